// SafetensorsFile::Open on hostile files: a single model.safetensors, or a
// model.safetensors.index.json with two shard files (records, fuzz_support.h). Every tensor
// an opened file lists must load (as float32) with its own shape or fail cleanly.
#include <cstdint>
#include <filesystem>
#include <string>

#include "services/encoder/lib/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

constexpr const char* kNames[] = {"model.safetensors", "model.safetensors.index.json",
                                  "model-00001-of-00002.safetensors",
                                  "model-00002-of-00002.safetensors"};
constexpr int kNumNames = sizeof(kNames) / sizeof(kNames[0]);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = tartan::fuzz::ScratchDir() + "/st";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  bool has_index = false;
  for (const auto& [name, bytes] : tartan::fuzz::SplitRecords(data, size, kNumNames)) {
    tartan::fuzz::WriteFile(dir + "/" + kNames[name], bytes);
    has_index |= name == 1;
  }
  const std::string path = dir + "/" + (has_index ? kNames[1] : kNames[0]);
  auto file = tartan::encoder::SafetensorsFile::Open(path);
  if (!file.ok()) {
    return 0;
  }
  for (const std::string& name : (*file)->Names()) {
    auto info = (*file)->Info(name);
    if (!info.ok()) {
      continue;
    }
    int64_t elements = 1;
    for (int64_t d : info->shape) {
      elements *= d;
    }
    if (elements <= (int64_t{1} << 24)) {  // the header is checked against the file's size
      (void)(*file)->LoadF32(name, info->shape);
    }
  }
  return 0;
}
