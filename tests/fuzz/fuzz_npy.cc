// ReadNpy on hostile .npy files, then both conversions.
#include <cstdint>
#include <string>
#include <string_view>

#include "services/indexer/lib/npy.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = tartan::fuzz::ScratchDir() + "/array.npy";
  tartan::fuzz::WriteFile(path, std::string_view(reinterpret_cast<const char*>(data), size));
  auto array = tartan::index::ReadNpy(path);
  if (!array.ok()) {
    return 0;
  }
  (void)array->size();
  (void)array->AsFloat();
  (void)array->AsInt64();
  return 0;
}
