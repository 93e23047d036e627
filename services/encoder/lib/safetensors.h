// Read-only, memory-mapped access to safetensors checkpoints (a single file or a sharded
// model.safetensors.index.json), plus a small writer used by tests and test-model tooling.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the data
// region; offsets are relative to the start of the data region.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/half.h"

namespace tartan::encoder {

enum class DType { kF32, kF16, kBF16 };

// "F32", "F16", "BF16".
std::string_view DTypeName(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::string file;  // the file holding the tensor (a shard for sharded checkpoints)
};

class MappedSafetensors;  // one mapped file; defined in safetensors.cc

class SafetensorsFile {
 public:
  // `path` is a .safetensors file or a *.safetensors.index.json (shards are resolved relative to
  // the index's folder). Validates every header entry (dtype string, offsets inside the file,
  // byte size == numel * element size) so later loads cannot read out of bounds.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();

  bool Has(std::string_view name) const;
  // Errors for a missing tensor or one whose dtype is not F32/F16/BF16.
  absl::StatusOr<TensorInfo> Info(std::string_view name) const;
  std::vector<std::string> Names() const;  // sorted
  // Converts to float32 (F16/BF16 upcast); checks the shape (exact match); errors name the file
  // and the tensor.
  absl::StatusOr<std::vector<float>> LoadF32(std::string_view name,
                                             const std::vector<int64_t>& expected_shape) const;
  const std::string& path() const { return path_; }

 private:
  struct Entry {
    std::string dtype;  // as written in the header ("F32", "I64", ...)
    std::vector<int64_t> shape;
    int file_index;
    uint64_t begin;  // absolute byte offsets in the mapped file
    uint64_t end;
  };
  SafetensorsFile() = default;
  absl::Status AddFile(const std::string& file_path, const std::vector<std::string>* only);

  std::string path_;
  std::vector<std::unique_ptr<MappedSafetensors>> files_;
  absl::flat_hash_map<std::string, Entry> entries_;
};

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Writes float32 tensors (data.size() must equal the product of shape).
absl::Status WriteSafetensorsF32(const std::string& path, const std::vector<NamedTensor>& tensors);
// Same, storing every tensor as `dtype` (F16/BF16 round to nearest even).
absl::Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                              DType dtype);

// Scalar bfloat16 conversions, round-to-nearest-even on the way down (binary16: common/half.h).
float BFloat16ToFloat(uint16_t b);
uint16_t FloatToBFloat16(float f);

}  // namespace tartan::encoder
