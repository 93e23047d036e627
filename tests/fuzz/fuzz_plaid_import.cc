// ReadPlaidIndex on a PLAID folder whose files come from the fuzz input (records,
// fuzz_support.h): metadata, codec tables, one or two chunks, inverted file.
#include <cstdint>
#include <filesystem>
#include <string>

#include "services/indexer/lib/plaid_import.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

constexpr const char* kNames[] = {"metadata.json",      "centroids.npy",    "bucket_cutoffs.npy",
                                  "bucket_weights.npy", "doclens.0.json",   "0.codes.npy",
                                  "0.residuals.npy",    "ivf.npy",          "ivf_lengths.npy",
                                  "plan.json",          "avg_residual.npy", "0.metadata.json",
                                  "doclens.1.json",     "1.codes.npy",      "1.residuals.npy"};
constexpr int kNumNames = sizeof(kNames) / sizeof(kNames[0]);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = tartan::fuzz::ScratchDir() + "/plaid";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const auto& [name, bytes] : tartan::fuzz::SplitRecords(data, size, kNumNames)) {
    tartan::fuzz::WriteFile(dir + "/" + kNames[name], bytes);
  }
  // The example index's dim (pylate-rs-plaid-index) and the synthetic seeds' dim.
  (void)tartan::index::ReadPlaidIndex(dir, "p", 128);
  (void)tartan::index::ReadPlaidIndex(dir, "p", 8);
  return 0;
}
