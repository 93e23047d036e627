// ReadModelFolder on a folder whose modules.json, config_sentence_transformers.json,
// sentence_bert_config.json, config.json and artifact.metadata come from the fuzz input
// (records, fuzz_support.h); a 1_Dense folder exists so Dense entries can resolve.
#include <cstdint>
#include <filesystem>
#include <string>

#include "services/encoder/lib/colbert/model_folder.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

constexpr const char* kNames[] = {"modules.json", "config_sentence_transformers.json",
                                  "sentence_bert_config.json", "config.json", "artifact.metadata"};
constexpr int kNumNames = sizeof(kNames) / sizeof(kNames[0]);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = tartan::fuzz::ScratchDir() + "/model";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/1_Dense");
  for (const auto& [name, bytes] : tartan::fuzz::SplitRecords(data, size, kNumNames)) {
    tartan::fuzz::WriteFile(dir + "/" + kNames[name], bytes);
  }
  (void)tartan::encoder::ReadModelFolder(dir);
  return 0;
}
