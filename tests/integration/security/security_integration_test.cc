// TLS and API keys end to end: a CA, a server and a client certificate made with the openssl
// CLI; an encoder and two shards requiring client certificates (mutual TLS); a router serving
// TLS with --api_keys_file and calling the others with its client certificate. Checks the
// answers a client gets (plaintext refused, no key UNAUTHENTICATED, wrong scope
// PERMISSION_DENIED), a key file edit without restart, tartanctl's --api-key/--tls-ca, and
// that a service refuses plaintext on a non-loopback address unless --insecure.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/integration/cluster/local_cluster.h"

namespace tartan::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kReadKey[] = "read-key-5f0c2a9e71d84b36";
constexpr char kWriteKey[] = "write-key-8a1d3c7e09f24b65";
constexpr char kAdminKey[] = "admin-key-c49e1b7a2d6f8053";
constexpr char kNewReadKey[] = "new-read-key-0b7e4c19a3d2f856";

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Writes atomically (rename), as a Secret volume or a careful operator would.
void WriteKeys(const std::string& path, const std::string& text) {
  { std::ofstream(path + ".tmp") << text; }
  fs::rename(path + ".tmp", path);
}

int Shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// CA, server (127.0.0.1/localhost) and client certificates under `dir`; false without openssl.
bool MakeCertificates(const std::string& dir) {
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string log = " >> " + dir + "/openssl.log 2>&1";
  const std::vector<std::string> commands = {
      absl::StrCat("cd ", dir, " && openssl req -x509 ", key,
                   " -keyout ca.key -out ca.pem -days 2 -subj /CN=tartan-test-ca", log),
      absl::StrCat("cd ", dir, " && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n",
                   "extendedKeyUsage=serverAuth\\n' > server.ext && printf ",
                   "'extendedKeyUsage=clientAuth\\n' > client.ext"),
      absl::StrCat("cd ", dir, " && openssl req ", key,
                   " -keyout server.key -out server.csr -subj /CN=localhost", log),
      absl::StrCat("cd ", dir,
                   " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
                   "-CAcreateserial -out server.pem -days 2 -extfile server.ext",
                   log),
      absl::StrCat("cd ", dir, " && openssl req ", key,
                   " -keyout client.key -out client.csr -subj /CN=tartan-router", log),
      absl::StrCat("cd ", dir,
                   " && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
                   "-CAcreateserial -out client.pem -days 2 -extfile client.ext",
                   log),
  };
  for (const std::string& command : commands) {
    if (Shell(command) != 0) return false;
  }
  return true;
}

std::shared_ptr<grpc::ChannelCredentials> TlsCredentials(const std::string& dir, bool client_cert) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadText(dir + "/ca.pem");
  if (client_cert) {
    ssl.pem_private_key = ReadText(dir + "/client.key");
    ssl.pem_cert_chain = ReadText(dir + "/client.pem");
  }
  return grpc::SslCredentials(ssl);
}

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = MakeTempDir("tartan-security");
    if (Shell("command -v openssl > /dev/null") != 0) GTEST_SKIP() << "no openssl CLI";
    model_ = LexicalTestModel(work_);
    if (model_.empty()) GTEST_SKIP() << "no shared tokenizer (TARTAN_SHARED_DIR)";
    ASSERT_TRUE(MakeCertificates(work_)) << ReadText(work_ + "/openssl.log");
    keys_ = work_ + "/api.keys";
    WriteKeys(keys_, absl::StrCat("# test keys\nread ", kReadKey, "\nwrite ", kWriteKey, "\nadmin ",
                                  kAdminKey, "\n"));
  }

  std::vector<std::string> ServerTls(bool require_client_cert) const {
    std::vector<std::string> args = {"--tls_cert_file=" + work_ + "/server.pem",
                                     "--tls_key_file=" + work_ + "/server.key"};
    if (require_client_cert) args.push_back("--tls_client_ca_file=" + work_ + "/ca.pem");
    return args;
  }

  std::unique_ptr<tartan::v1::Router::Stub> RouterStub(
      std::shared_ptr<grpc::ChannelCredentials> credentials) const {
    return tartan::v1::Router::NewStub(grpc::CreateChannel(router_.address(), credentials));
  }

  grpc::Status Search(tartan::v1::Router::Stub& stub, const std::string& key,
                      tartan::v1::SearchResponse* response) {
    grpc::ClientContext context;
    SetDeadline(&context, 10);
    if (!key.empty()) context.AddMetadata("authorization", "Bearer " + key);
    tartan::v1::SearchRequest request;
    request.set_text("the walrus");
    request.set_k(3);
    return stub.Search(&context, request, response);
  }

  grpc::Status Add(tartan::v1::Router::Stub& stub, const std::string& key) {
    grpc::ClientContext context;
    SetDeadline(&context, 30);
    if (!key.empty()) context.AddMetadata("authorization", "Bearer " + key);
    tartan::v1::AddDocumentsRequest request;
    auto* doc = request.add_documents();
    doc->set_id("walrus");
    doc->set_text("The walrus lives on the arctic ice.");
    tartan::v1::AddDocumentsResponse response;
    return stub.AddDocuments(&context, request, &response);
  }

  std::string work_, model_, keys_;
  ServiceProcess encoder_, router_;
  std::vector<ServiceProcess> shards_;
};

TEST_F(SecurityTest, TlsMutualTlsAndApiKeys) {
  std::vector<std::string> args = ServerTls(/*require_client_cert=*/true);
  args.insert(args.end(), {"--model=" + model_, "--threads=1"});
  auto encoder = ServiceProcess::Start(BinaryPath("tartan-encoder"), args, work_, 120);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  encoder_ = std::move(*encoder);
  std::vector<std::string> shard_addresses;
  for (int i = 0; i < 2; ++i) {
    args = ServerTls(/*require_client_cert=*/true);
    args.insert(args.end(), {absl::StrCat("--index_dir=", work_, "/shard", i), "--dim=128",
                             "--threads=1", absl::StrCat("--shard_name=shard", i)});
    auto shard = ServiceProcess::Start(BinaryPath("tartan-indexer"), args, work_, 60);
    ASSERT_TRUE(shard.ok()) << shard.status();
    shard_addresses.push_back(shard->address());
    shards_.push_back(std::move(*shard));
  }
  args = ServerTls(/*require_client_cert=*/false);
  args.insert(
      args.end(),
      {"--encoder=" + encoder_.address(), "--shards=" + absl::StrJoin(shard_addresses, ","),
       "--tls_ca_file=" + work_ + "/ca.pem", "--tls_client_cert_file=" + work_ + "/client.pem",
       "--tls_client_key_file=" + work_ + "/client.key", "--api_keys_file=" + keys_});
  auto router = ServiceProcess::Start(BinaryPath("tartan-router"), args, work_, 30);
  ASSERT_TRUE(router.ok()) << router.status();
  router_ = std::move(*router);

  auto tls = RouterStub(TlsCredentials(work_, /*client_cert=*/false));
  // Ready when the router reaches the encoder and both shards over mutual TLS.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool ready = false;
  std::string last;
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    grpc::ClientContext context;
    SetDeadline(&context, 5);
    context.AddMetadata("authorization", std::string("Bearer ") + kAdminKey);
    tartan::v1::ClusterStatusResponse status;
    grpc::Status rpc = tls->ClusterStatus(&context, {}, &status);
    ready = rpc.ok() && status.encoder_healthy() && status.shards_size() == 2;
    for (const auto& shard : status.shards()) ready = ready && shard.healthy();
    last = rpc.ok() ? status.ShortDebugString() : rpc.error_message();
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(ready) << last << "\nrouter log:\n" << router_.ReadLog();

  tartan::v1::SearchResponse response;
  // Plaintext to a TLS port fails whatever the key.
  auto plaintext = RouterStub(grpc::InsecureChannelCredentials());
  EXPECT_EQ(Search(*plaintext, kReadKey, &response).error_code(), grpc::StatusCode::UNAVAILABLE);
  // TLS without a key, with an unknown key, with the wrong scope.
  EXPECT_EQ(Search(*tls, "", &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Search(*tls, "no-such-key-0000000000", &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Add(*tls, kReadKey).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Search(*tls, kWriteKey, &response).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  {
    grpc::ClientContext context;
    SetDeadline(&context, 5);
    context.AddMetadata("authorization", std::string("Bearer ") + kReadKey);
    tartan::v1::ClusterStatusResponse status;
    EXPECT_EQ(tls->ClusterStatus(&context, {}, &status).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  // The write key adds, the read key finds it: the router reached the shards over mTLS.
  grpc::Status added = Add(*tls, kWriteKey);
  ASSERT_TRUE(added.ok()) << added.error_message() << "\n" << router_.ReadLog();
  grpc::Status found = Search(*tls, kReadKey, &response);
  ASSERT_TRUE(found.ok()) << found.error_message();
  ASSERT_GE(response.hits_size(), 1);
  EXPECT_EQ(response.hits(0).id(), "walrus");
  EXPECT_FALSE(response.partial());
  // The router's log never holds a key.
  const std::string router_log = router_.ReadLog();
  for (const char* key : {kReadKey, kWriteKey, kAdminKey}) {
    EXPECT_EQ(router_log.find(key), std::string::npos) << key;
  }

  // Key file edit: the old read key is revoked and a new one works, without a restart.
  WriteKeys(keys_,
            absl::StrCat("read ", kNewReadKey, "\nwrite ", kWriteKey, "\nadmin ", kAdminKey, "\n"));
  grpc::StatusCode old_key = grpc::StatusCode::OK;
  grpc::StatusCode new_key = grpc::StatusCode::UNKNOWN;
  for (int attempt = 0; attempt < 50; ++attempt) {
    old_key = Search(*tls, kReadKey, &response).error_code();
    new_key = Search(*tls, kNewReadKey, &response).error_code();
    if (old_key == grpc::StatusCode::UNAUTHENTICATED && new_key == grpc::StatusCode::OK) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(old_key, grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(new_key, grpc::StatusCode::OK);
  EXPECT_GT(router_.pid(), 0);

  // A shard with --tls_client_ca_file turns away a TLS client without a certificate.
  for (bool client_cert : {false, true}) {
    auto shard = tartan::v1::Indexer::NewStub(
        grpc::CreateChannel(shard_addresses[0], TlsCredentials(work_, client_cert)));
    grpc::ClientContext context;
    SetDeadline(&context, 5);
    tartan::v1::ShardStats stats;
    grpc::Status status = shard->Stats(&context, {}, &stats);
    if (client_cert) {
      EXPECT_TRUE(status.ok()) << status.error_message();
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    }
  }

  // tartanctl: --tls-ca and --api-key (or $TARTAN_API_KEY).
  const std::string tartanctl = absl::StrCat(BinaryPath("tartanctl"), " status --router ",
                                             router_.address(), " --tls-ca ", work_, "/ca.pem");
  const std::string quiet = " > " + work_ + "/tartanctl.log 2>&1";
  EXPECT_EQ(Shell(tartanctl + " --api-key " + kAdminKey + quiet), 0)
      << ReadText(work_ + "/tartanctl.log");
  EXPECT_EQ(Shell(std::string("TARTAN_API_KEY=") + kAdminKey + " " + tartanctl + quiet), 0);
  EXPECT_EQ(Shell(tartanctl + quiet), 1);
  EXPECT_NE(ReadText(work_ + "/tartanctl.log").find("UNAUTHENTICATED"), std::string::npos);
  EXPECT_EQ(Shell(tartanctl + " --api-key " + kWriteKey + quiet), 1);
  EXPECT_NE(ReadText(work_ + "/tartanctl.log").find("PERMISSION_DENIED"), std::string::npos);
}

// Exit code and output of a service started on 0.0.0.0 that should refuse before binding.
std::pair<int, std::string> StartOnAllAddresses(const std::string& work, const std::string& binary,
                                                const std::string& args) {
  const std::string log = work + "/refuse.log";
  const int code = Shell(absl::StrCat("timeout 30 ", BinaryPath(binary),
                                      " --host=0.0.0.0 --grpc_port=0 --metrics_port=-1 ", args,
                                      " > ", log, " 2>&1"));
  return {code, ReadText(log)};
}

TEST_F(SecurityTest, PlaintextOnANonLoopbackAddressNeedsInsecure) {
  auto [code, log] =
      StartOnAllAddresses(work_, "tartan-indexer", "--index_dir=" + work_ + "/refused --dim=128");
  EXPECT_EQ(code, 1) << log;
  EXPECT_NE(log.find("--insecure"), std::string::npos) << log;
  EXPECT_NE(log.find("0.0.0.0"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(work_ + "/refused/LOCK")) << "refused only after opening the index";

  // The router with TLS but without API keys on 0.0.0.0: refused as well.
  std::tie(code, log) = StartOnAllAddresses(
      work_, "tartan-router",
      absl::StrCat("--tls_cert_file=", work_, "/server.pem --tls_key_file=", work_, "/server.key"));
  EXPECT_EQ(code, 1) << log;
  EXPECT_NE(log.find("--api_keys_file"), std::string::npos) << log;

  // A half-configured TLS pair is an error, not plaintext.
  std::tie(code, log) = StartOnAllAddresses(
      work_, "tartan-indexer",
      absl::StrCat("--index_dir=", work_, "/refused --dim=128 --tls_cert_file=", work_,
                   "/server.pem"));
  EXPECT_EQ(code, 1) << log;
  EXPECT_NE(log.find("--tls_key_file"), std::string::npos) << log;
}

}  // namespace
}  // namespace tartan::testing
