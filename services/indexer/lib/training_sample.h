// The rows a codec retrains on besides the new documents: token vectors spread evenly over the
// live documents of the existing segments. A retrain sizes its centroids for the whole index,
// so the new documents alone may be far too few to train them; the sample tops them up without
// ever holding more than it takes (decoding the whole index would cost 512 bytes per token).
#pragma once

#include <cstdint>
#include <vector>

#include "services/indexer/lib/segment.h"

namespace tartan::index {

// Appends to `out` ([rows, dim], row-major) min(want, live tokens) token vectors of the live
// documents of `segments`, evenly spaced in their order; only documents that contribute a
// token are decoded. Returns the number of rows appended.
uint64_t SampleLiveTokens(const std::vector<const Segment*>& segments, uint64_t want, int dim,
                          std::vector<float>* out);

}  // namespace tartan::index
