// The retraining sample (training_sample.h): exactly the tokens asked for, evenly spaced over
// the live documents only, and every live token when fewer exist. Documents are longer than
// the sampling stride here, which is where the sample once took every document whole.
#include "services/indexer/lib/training_sample.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "services/indexer/lib/fresh_segment.h"

namespace tartan::index {
namespace {

constexpr int kDim = 4;

// Two segments of documents of 1..150 tokens; each token's vector holds its number among all
// tokens written (component 0) and its document's (component 1). Every 7th document is dead.
struct Fixture {
  std::vector<std::shared_ptr<FreshSegment>> segments;
  std::vector<uint32_t> live;  // numbers of the live tokens, in order
  std::vector<const Segment*> view() const {
    std::vector<const Segment*> out;
    for (const auto& s : segments) out.push_back(s.get());
    return out;
  }
};

Fixture MakeFixture() {
  Fixture f;
  uint32_t token = 0, doc = 0;
  for (int s = 0; s < 2; ++s) {
    std::vector<std::shared_ptr<const FreshDoc>> docs;
    for (int i = 0; i < 120; ++i, ++doc) {
      auto d = std::make_shared<FreshDoc>();
      d->num_tokens = 1 + int((doc * 37) % 150);
      for (int t = 0; t < d->num_tokens; ++t, ++token) {
        d->vectors.insert(d->vectors.end(), {float(token), float(doc), 0.f, 0.f});
        if (doc % 7 != 3) f.live.push_back(token);
      }
      docs.push_back(std::move(d));
    }
    auto seg = FreshSegment::Empty(kDim)->Append(std::move(docs));
    for (uint32_t i = 0; i < seg->num_docs(); ++i)
      if ((uint32_t(s) * 120 + i) % 7 == 3) seg->Kill(i);
    f.segments.push_back(std::move(seg));
  }
  return f;
}

TEST(TrainingSampleTest, TakesExactlyWhatIsAskedEvenlyFromLiveDocumentsOnly) {
  const Fixture f = MakeFixture();
  const uint64_t total = f.live.size();
  ASSERT_GT(total, 10000u);
  for (const uint64_t want : {uint64_t(1), uint64_t(97), total / 80, total / 3, total - 1}) {
    std::vector<float> out = {-1.f, -1.f, -1.f, -1.f};  // rows already there are kept
    const uint64_t n = SampleLiveTokens(f.view(), want, kDim, &out);
    ASSERT_EQ(n, want);
    ASSERT_EQ(out.size(), (want + 1) * kDim);
    EXPECT_EQ(out[0], -1.f);
    std::vector<uint64_t> positions;  // each sampled token's place among the live ones
    for (uint64_t r = 1; r <= want; ++r) {
      const uint32_t token = uint32_t(out[r * kDim]);
      const auto it = std::lower_bound(f.live.begin(), f.live.end(), token);
      ASSERT_TRUE(it != f.live.end() && *it == token) << "token " << token << " is dead";
      positions.push_back(uint64_t(it - f.live.begin()));
    }
    // Strictly increasing (no token twice), with gaps of floor or ceil of total / want.
    const uint64_t lo = total / want, hi = (total + want - 1) / want;
    for (size_t i = 1; i < positions.size(); ++i) {
      const uint64_t gap = positions[i] - positions[i - 1];
      EXPECT_TRUE(gap == lo || gap == hi) << "gap " << gap << " at " << i << ", want " << want;
    }
  }
}

TEST(TrainingSampleTest, TakesEveryLiveTokenOnceWhenTooFewExist) {
  const Fixture f = MakeFixture();
  std::vector<float> out;
  const uint64_t n = SampleLiveTokens(f.view(), 10 * f.live.size(), kDim, &out);
  ASSERT_EQ(n, f.live.size());
  std::vector<uint32_t> tokens;
  for (uint64_t r = 0; r < n; ++r) tokens.push_back(uint32_t(out[r * kDim]));
  EXPECT_EQ(tokens, f.live);
  EXPECT_EQ(SampleLiveTokens({}, 100, kDim, &out), 0u);
  EXPECT_EQ(out.size(), n * kDim);
}

}  // namespace
}  // namespace tartan::index
