// kill -9 of a writer child at random moments: after recovery every acknowledged document
// is present (with its acknowledged version) and none is duplicated.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "services/indexer/lib/shard.h"
#include "tests/unit/indexer/test_util.h"

namespace tartan::index {
namespace {

constexpr int kDim = 16;

ShardOptions Opts(const std::string& dir) {
  ShardOptions o;
  o.data_dir = dir;
  o.dim = kDim;
  o.fsync = ShardOptions::Fsync::kGroupCommit;
  o.group_commit_ms = 1;
  o.flush_threshold_tokens = 400;  // flush and compaction happen often, so kills land in them
  o.compaction_max_segments = 3;
  o.background_compaction = true;
  o.kmeans_iterations = 2;
  return o;
}

// Child: writes forever. Before each operation it announces "P <id> <version|->" lines,
// after the operation is acknowledged an "A" line; a kill lands at most in one announced
// but unacknowledged operation, whose outcome may go either way.
[[noreturn]] void Writer(const std::string& dir, int fd, uint64_t seed) {
  auto shard = Shard::Open(Opts(dir));
  if (!shard.ok()) {
    std::fprintf(stderr, "child open failed: %s\n", std::string(shard.status().message()).c_str());
    _exit(3);
  }
  std::mt19937_64 rng(seed);
  auto say = [&](const std::string& s) {
    if (write(fd, s.data(), s.size()) != ssize_t(s.size())) _exit(5);
  };
  for (int n = 0;; ++n) {
    if (rng() % 5 == 0) {
      const std::string id = "id" + std::to_string(rng() % 300);
      say("P " + id + " -\n");
      if (!(*shard)->Delete({id}).ok()) _exit(4);
      say("A\n");
      continue;
    }
    std::vector<Document> batch;
    std::string announce;
    const int size = 1 + int(rng() % 4);
    for (int b = 0; b < size; ++b) {
      // Ids repeat across iterations, so replacements are exercised too.
      const std::string id = "id" + std::to_string(rng() % 300);
      Document d = testing::RandomDoc(id, 1 + int(rng() % 12), kDim, rng());
      d.metadata["version"] = std::to_string(seed * 1000000 + n);
      announce += "P " + id + " " + d.metadata["version"] + "\n";
      batch.push_back(std::move(d));
    }
    say(announce);
    if (!(*shard)->Upsert(std::move(batch)).ok()) _exit(6);
    say("A\n");
  }
}

TEST(CrashTest, KillNineAtRandomMomentsLosesNoAcknowledgedWrite) {
  const std::string dir = testing::TempDir("crash");
  std::map<std::string, std::string> expected;  // id -> acknowledged version, "-" = absent
  std::mt19937_64 rng(7);
  const int iterations = 25;
  int acknowledged_ops = 0;
  for (int it = 0; it < iterations; ++it) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      Writer(dir, fds[1], uint64_t(it) + 1);
    }
    close(fds[1]);
    // The kill lands amid traffic however loaded the machine is: after the child's first
    // acknowledged write (opening the shard may take a while), at a random moment.
    std::string all;
    char buf[4096];
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (all.find("A\n") == std::string::npos && std::chrono::steady_clock::now() < give_up) {
      pollfd pfd{fds[0], POLLIN, 0};
      if (poll(&pfd, 1, 100) <= 0) continue;
      const ssize_t n = read(fds[0], buf, sizeof(buf));
      if (n <= 0) break;
      all.append(buf, size_t(n));
    }
    usleep(useconds_t(rng() % 400000));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
    for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) all.append(buf, size_t(n));
    close(fds[0]);
    // Replay the protocol; the last announced group without "A" is uncertain.
    std::map<std::string, std::string> uncertain, pending;
    size_t pos = 0;
    for (size_t nl; (nl = all.find('\n', pos)) != std::string::npos; pos = nl + 1) {
      const std::string line = all.substr(pos, nl - pos);
      if (line == "A") {
        for (auto& [id, v] : pending) expected[id] = v;
        pending.clear();
        ++acknowledged_ops;
        continue;
      }
      const size_t sp = line.find(' ', 2);
      pending[line.substr(2, sp - 2)] = line.substr(sp + 1);
    }
    uncertain = pending;

    ShardOptions o = Opts(dir);
    o.background_compaction = false;
    auto shard = Shard::Open(o);
    ASSERT_TRUE(shard.ok()) << "iteration " << it << ": " << shard.status();
    std::vector<std::string> ids;
    for (int i = 0; i < 300; ++i) ids.push_back("id" + std::to_string(i));
    auto got = (*shard)->Get(ids);
    ASSERT_TRUE(got.ok());
    for (size_t i = 0; i < ids.size(); ++i) {
      const auto& d = (*got)[i];
      const std::string actual = d.has_value() ? d->metadata.at("version") : "-";
      auto e = expected.find(ids[i]);
      const std::string want = e == expected.end() ? "-" : e->second;
      auto u = uncertain.find(ids[i]);
      if (u != uncertain.end()) {
        EXPECT_TRUE(actual == want || actual == u->second)
            << "iteration " << it << ": " << ids[i] << " is " << actual << ", expected " << want
            << " or " << u->second;
        expected[ids[i]] = actual;  // the recovered state is the truth from here on
      } else {
        EXPECT_EQ(actual, want) << "iteration " << it << ": acknowledged state of " << ids[i]
                                << " lost";
      }
    }
    // No duplicates: exact search over everything returns each id once.
    const auto st = (*shard)->Stats();
    auto q = testing::RandomUnit(2, kDim, uint64_t(it));
    SearchParams p;
    p.k = 100000;
    p.exact = true;
    auto hits = (*shard)->Search(q.data(), 2, p);
    ASSERT_TRUE(hits.ok());
    std::set<std::string> unique;
    for (const Hit& h : *hits) EXPECT_TRUE(unique.insert(h.id).second) << "duplicate " << h.id;
    EXPECT_EQ(unique.size(), st.documents);
    ASSERT_TRUE((*shard)->Close().ok());
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GE(acknowledged_ops, iterations);  // every kill landed after real traffic
}

}  // namespace
}  // namespace tartan::index
