// Reading of a PLAID index written by stanford ColBERT / fast-plaid / pylate-rs:
//   metadata.json {nbits, num_chunks, ...}; centroids.npy [nc, dim] (f2/f4);
//   bucket_cutoffs.npy [2^nbits-1]; bucket_weights.npy [2^nbits]; per chunk i:
//   doclens.<i>.json [ndocs], <i>.codes.npy [n] (int), <i>.residuals.npy [n, dim*nbits/8] u8;
//   ivf.npy + ivf_lengths.npy (centroid -> passage ids), used here as a consistency check.
// Decompression in fast-plaid is normalize(centroid[code] + bucket_weights[bucket_d]) with the
// same bit layout as ours, so codes and residuals are copied unchanged: the global cutoffs
// and weights become per-dimension tables with identical rows. avg_residual is not used by
// fast-plaid's decompression and is ignored.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/indexer/lib/npy.h"
#include "services/indexer/lib/plaid_import.h"

namespace tartan::index {
namespace {

// Sanity bounds on sizes read from the files (all far above real PLAID indexes).
constexpr int64_t kMaxDim = 4096;
constexpr int64_t kMaxCentroids = int64_t(1) << 24;
constexpr int64_t kMaxChunks = 1 << 20;
constexpr size_t kMaxDocs = UINT32_MAX - 1;  // local doc numbers are uint32

absl::StatusOr<nlohmann::json> ReadJson(const std::string& path) {
  std::ifstream f(path);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  try {
    return nlohmann::json::parse(f);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": invalid JSON: ", e.what()));
  }
}

}  // namespace

absl::StatusOr<SegmentBuild> ReadPlaidIndex(const std::string& dir, const std::string& prefix,
                                            int shard_dim) {
  ASSIGN_OR_RETURN(nlohmann::json meta, ReadJson(dir + "/metadata.json"));
  int64_t nbits = 0, num_chunks = 0;
  try {
    // Integers only: get<int> on a float or an out-of-range number would not be checked.
    if (!meta.is_object() || !meta.at("nbits").is_number_integer() ||
        !meta.at("num_chunks").is_number_integer()) {
      return absl::DataLossError(absl::StrCat(dir,
                                              "/metadata.json: nbits and num_chunks must be "
                                              "integers"));
    }
    nbits = meta.at("nbits").get<int64_t>();
    num_chunks = meta.at("num_chunks").get<int64_t>();
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(dir, "/metadata.json: ", e.what()));
  }
  if (nbits != 1 && nbits != 2 && nbits != 4)
    return absl::InvalidArgumentError(absl::StrCat(dir, ": unsupported nbits ", nbits));
  if (num_chunks < 0 || num_chunks > kMaxChunks)
    return absl::DataLossError(absl::StrCat(dir, ": bad num_chunks ", num_chunks));
  ASSIGN_OR_RETURN(NpyArray centroids_npy, ReadNpy(dir + "/centroids.npy"));
  if (centroids_npy.shape.size() != 2)
    return absl::DataLossError(absl::StrCat(dir, "/centroids.npy must be 2-D"));
  if (centroids_npy.shape[0] <= 0 || centroids_npy.shape[0] > kMaxCentroids ||
      centroids_npy.shape[1] <= 0 || centroids_npy.shape[1] > kMaxDim ||
      centroids_npy.shape[1] % 8 != 0) {
    return absl::DataLossError(absl::StrCat(
        dir, "/centroids.npy: bad shape [", centroids_npy.shape[0], ", ", centroids_npy.shape[1],
        "] (need 0 < centroids <= ", kMaxCentroids, ", 0 < dim <= ", kMaxDim, ", dim % 8 == 0)"));
  }
  const int nc = int(centroids_npy.shape[0]), dim = int(centroids_npy.shape[1]);
  if (dim != shard_dim) {
    return absl::FailedPreconditionError(
        absl::StrCat("PLAID index ", dir, " has dim ", dim, ", shard dim is ", shard_dim));
  }
  Codec codec;
  codec.dim = dim;
  codec.nbits = nbits;
  codec.num_centroids = nc;
  codec.normalize = true;
  ASSIGN_OR_RETURN(codec.centroids, centroids_npy.AsFloat());
  // Segments store centroids as fp16 (fast-plaid's own format; lossless for f2 input).
  for (float& v : codec.centroids) v = HalfToFloat(FloatToHalf(v));
  ASSIGN_OR_RETURN(NpyArray cut_npy, ReadNpy(dir + "/bucket_cutoffs.npy"));
  ASSIGN_OR_RETURN(NpyArray w_npy, ReadNpy(dir + "/bucket_weights.npy"));
  ASSIGN_OR_RETURN(std::vector<float> cutoffs, cut_npy.AsFloat());
  ASSIGN_OR_RETURN(std::vector<float> weights, w_npy.AsFloat());
  const int nopts = 1 << nbits;
  if (cutoffs.size() != size_t(nopts - 1) || weights.size() != size_t(nopts)) {
    return absl::DataLossError(absl::StrCat(dir, ": expected ", nopts - 1, " cutoffs and ", nopts,
                                            " weights, got ", cutoffs.size(), " and ",
                                            weights.size()));
  }
  for (int d = 0; d < dim; ++d) {
    codec.bucket_cutoffs.insert(codec.bucket_cutoffs.end(), cutoffs.begin(), cutoffs.end());
    codec.bucket_weights.insert(codec.bucket_weights.end(), weights.begin(), weights.end());
  }

  SegmentBuild build;
  build.import = true;
  build.import_metadata = {{"source", "plaid"}};
  SegmentData& data = build.data;
  data.doc_offsets.push_back(0);
  const int pb = dim * nbits / 8;
  for (int chunk = 0; chunk < num_chunks; ++chunk) {
    ASSIGN_OR_RETURN(nlohmann::json doclens,
                     ReadJson(absl::StrCat(dir, "/doclens.", chunk, ".json")));
    ASSIGN_OR_RETURN(NpyArray codes_npy, ReadNpy(absl::StrCat(dir, "/", chunk, ".codes.npy")));
    ASSIGN_OR_RETURN(NpyArray res_npy, ReadNpy(absl::StrCat(dir, "/", chunk, ".residuals.npy")));
    ASSIGN_OR_RETURN(std::vector<int64_t> codes, codes_npy.AsInt64());
    if (res_npy.dtype.size() < 3 || res_npy.dtype.substr(1) != "u1" || res_npy.shape.size() != 2 ||
        res_npy.shape[1] != pb || res_npy.shape[0] != int64_t(codes.size())) {
      return absl::DataLossError(absl::StrCat(dir, "/", chunk, ".residuals.npy: expected uint8 [",
                                              codes.size(), ", ", pb, "]"));
    }
    uint64_t chunk_tokens = 0;
    const std::string doclens_path = absl::StrCat(dir, "/doclens.", chunk, ".json");
    if (!doclens.is_array())
      return absl::DataLossError(absl::StrCat(doclens_path, ": not a JSON array"));
    try {
      for (const auto& len : doclens) {
        if (!len.is_number_integer())
          return absl::DataLossError(absl::StrCat(doclens_path, ": non-integer document length"));
        const int64_t n = len.get<int64_t>();
        if (n < 0 || (len.is_number_unsigned() && len.get<uint64_t>() > uint64_t(INT64_MAX)))
          return absl::DataLossError(absl::StrCat(doclens_path, ": negative document length"));
        // Checked against what is left of the chunk's codes, so the sum cannot wrap around.
        if (uint64_t(n) > codes.size() - chunk_tokens || uint64_t(n) > UINT32_MAX) {
          return absl::DataLossError(absl::StrCat(doclens_path, ": document lengths exceed the ",
                                                  codes.size(), " codes of the chunk"));
        }
        if (data.ids.size() >= kMaxDocs)
          return absl::DataLossError(absl::StrCat(dir, ": too many documents"));
        data.ids.push_back(absl::StrCat(prefix, data.ids.size()));
        data.doc_offsets.push_back(data.doc_offsets.back() + uint64_t(n));
        chunk_tokens += uint64_t(n);
      }
    } catch (const std::exception& e) {
      return absl::DataLossError(absl::StrCat(doclens_path, ": ", e.what()));
    }
    if (chunk_tokens != codes.size()) {
      return absl::DataLossError(absl::StrCat(dir, ": chunk ", chunk, " doclens sum to ",
                                              chunk_tokens, " but there are ", codes.size(),
                                              " codes"));
    }
    for (int64_t c : codes) {
      if (c < 0 || c >= nc)
        return absl::DataLossError(absl::StrCat(dir, ": code ", c, " out of range [0, ", nc, ")"));
      data.codes.push_back(uint32_t(c));
    }
    data.residuals.insert(data.residuals.end(), res_npy.data.begin(), res_npy.data.end());
  }
  const size_t ndocs = data.ids.size();
  if (ndocs == 0) return absl::InvalidArgumentError(absl::StrCat(dir, " holds no documents"));
  for (const std::string& id : data.ids)
    if (id.size() > 256) return absl::InvalidArgumentError("id prefix too long");

  // Consistency check against the index's own inverted file, when present.
  if (std::filesystem::exists(dir + "/ivf.npy") &&
      std::filesystem::exists(dir + "/ivf_lengths.npy")) {
    ASSIGN_OR_RETURN(NpyArray ivf_npy, ReadNpy(dir + "/ivf.npy"));
    ASSIGN_OR_RETURN(NpyArray len_npy, ReadNpy(dir + "/ivf_lengths.npy"));
    ASSIGN_OR_RETURN(std::vector<int64_t> ivf, ivf_npy.AsInt64());
    ASSIGN_OR_RETURN(std::vector<int64_t> lens, len_npy.AsInt64());
    if (int(lens.size()) != nc)
      return absl::DataLossError(absl::StrCat(dir, "/ivf_lengths.npy size"));
    std::vector<std::vector<uint32_t>> expect(nc);
    for (uint32_t d = 0; d < ndocs; ++d) {
      for (uint64_t t = data.doc_offsets[d]; t < data.doc_offsets[d + 1]; ++t) {
        if (expect[data.codes[t]].empty() || expect[data.codes[t]].back() != d)
          expect[data.codes[t]].push_back(d);
      }
    }
    size_t pos = 0;
    for (int c = 0; c < nc; ++c) {
      if (lens[c] < 0 || uint64_t(lens[c]) > ivf.size() - pos)
        return absl::DataLossError(absl::StrCat(dir, ": ivf lengths exceed ivf.npy"));
      std::vector<uint32_t> got;
      got.reserve(size_t(lens[c]));
      for (size_t i = pos; i < pos + size_t(lens[c]); ++i) {
        if (ivf[i] < 0 || uint64_t(ivf[i]) >= ndocs) {
          return absl::DataLossError(
              absl::StrCat(dir, ": ivf.npy names document ", ivf[i], " of ", ndocs));
        }
        got.push_back(uint32_t(ivf[i]));
      }
      std::sort(got.begin(), got.end());
      got.erase(std::unique(got.begin(), got.end()), got.end());
      if (got != expect[c]) {
        return absl::DataLossError(
            absl::StrCat(dir, ": ivf.npy disagrees with the codes at centroid ", c));
      }
      pos += size_t(lens[c]);
    }
  }

  codec.trained_tokens = data.doc_offsets.back();
  codec.Finalize();
  build.codec = std::make_shared<const Codec>(std::move(codec));
  return build;
}

}  // namespace tartan::index
