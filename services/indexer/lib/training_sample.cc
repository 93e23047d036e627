#include "services/indexer/lib/training_sample.h"

#include <algorithm>

namespace tartan::index {

uint64_t SampleLiveTokens(const std::vector<const Segment*>& segments, uint64_t want, int dim,
                          std::vector<float>* out) {
  uint64_t total = 0;
  for (const Segment* s : segments) total += s->live_tokens();
  want = std::min(want, total);
  if (want == 0) return 0;
  // Token i of the live tokens (counted in order) is taken when floor(i * want / total)
  // steps: exactly `want` of them, evenly spaced.
  auto taken_before = [&](uint64_t i) { return uint64_t((unsigned __int128)i * want / total); };
  out->reserve(out->size() + want * uint64_t(dim));
  std::vector<float> doc;
  uint64_t seen = 0, appended = 0;
  for (const Segment* s : segments) {
    for (uint32_t d = 0; d < s->num_docs(); ++d) {
      if (!s->IsAlive(d)) continue;
      const uint32_t n = s->doc_len(d);
      if (taken_before(seen + n) > taken_before(seen)) {
        doc.resize(size_t(n) * dim);
        s->DecodeDoc(d, doc.data());
        for (uint32_t t = 0; t < n; ++t) {
          if (taken_before(seen + t + 1) > taken_before(seen + t)) {
            out->insert(out->end(), doc.begin() + size_t(t) * dim,
                        doc.begin() + size_t(t + 1) * dim);
            ++appended;
          }
        }
      }
      seen += n;
    }
  }
  return appended;
}

}  // namespace tartan::index
