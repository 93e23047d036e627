#include "services/encoder/lib/safetensors.h"

#include "common/half.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace tartan::encoder {

// One read-only mapping of a whole file; unmapped on destruction.
class MappedSafetensors {
 public:
  static absl::StatusOr<std::unique_ptr<MappedSafetensors>> Map(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return absl::NotFoundError(
          absl::StrCat("safetensors: cannot open ", path, ": ", std::strerror(errno)));
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return absl::InternalError(
          absl::StrCat("safetensors: cannot stat ", path, ": ", std::strerror(err)));
    }
    auto m = std::unique_ptr<MappedSafetensors>(new MappedSafetensors());
    m->path_ = path;
    m->size_ = static_cast<uint64_t>(st.st_size);
    if (m->size_ > 0) {
      void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int err = errno;
        ::close(fd);
        return absl::InternalError(
            absl::StrCat("safetensors: cannot mmap ", path, ": ", std::strerror(err)));
      }
      m->data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
    return m;
  }
  ~MappedSafetensors() {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedSafetensors() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

namespace {

int ElementSize(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2")
    return 1;
  return 0;
}

bool ParseDType(const std::string& s, DType* out) {
  if (s == "F32") {
    *out = DType::kF32;
  } else if (s == "F16") {
    *out = DType::kF16;
  } else if (s == "BF16") {
    *out = DType::kBF16;
  } else {
    return false;
  }
  return true;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// A shard named by an index must stay inside the index's folder: a relative path without ".."
// components (checked lexically, so a model folder whose files are symlinks into a cache, as in
// the Hugging Face hub layout, still loads).
absl::Status CheckShardName(const std::string& index_path, const std::string& shard) {
  const auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("safetensors: index ", index_path, " names shard '", shard, "': ", why));
  };
  if (shard.empty()) return bad("empty file name");
  if (shard.find('\0') != std::string::npos) return bad("NUL in the file name");
  const std::filesystem::path p(shard);
  if (p.is_absolute() || p.has_root_name() || p.has_root_directory())
    return bad("absolute paths are not allowed");
  for (const auto& part : p) {
    if (part == "..") return bad("'..' is not allowed");
  }
  const std::filesystem::path normal = p.lexically_normal();
  if (normal.empty() || normal == "." || !normal.has_filename())
    return bad("not a file inside the model folder");
  return absl::OkStatus();
}

}  // namespace

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
  }
  return "?";
}

float BFloat16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBFloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // nan
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

SafetensorsFile::~SafetensorsFile() = default;

absl::Status SafetensorsFile::AddFile(const std::string& file_path,
                                      const std::vector<std::string>* only) {
  ASSIGN_OR_RETURN(auto mapped, MappedSafetensors::Map(file_path));
  const uint64_t size = mapped->size();
  if (size < 8) {
    return absl::DataLossError(absl::StrCat("safetensors: ", file_path, " is truncated (", size,
                                            " bytes, no header length)"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | mapped->data()[i];
  if (header_len > size - 8) {
    return absl::DataLossError(absl::StrCat("safetensors: ", file_path, " header length ",
                                            header_len, " exceeds the file size ", size,
                                            " (truncated or not a safetensors file)"));
  }
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_len = size - data_start;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(mapped->data() + 8),
                                   reinterpret_cast<const char*>(mapped->data() + data_start));
  } catch (const std::exception& e) {
    return absl::DataLossError(
        absl::StrCat("safetensors: ", file_path, " has a corrupt JSON header: ", e.what()));
  }
  if (!header.is_object()) {
    return absl::DataLossError(
        absl::StrCat("safetensors: ", file_path, " header is not a JSON object"));
  }
  const int file_index = static_cast<int>(files_.size());
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    if (only != nullptr && std::find(only->begin(), only->end(), name) == only->end()) continue;
    const auto bad = [&](const std::string& why) {
      return absl::DataLossError(
          absl::StrCat("safetensors: ", file_path, ": tensor '", name, "': ", why));
    };
    const nlohmann::json& v = it.value();
    Entry e;
    e.file_index = file_index;
    try {
      if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
          !v.contains("data_offsets")) {
        return bad("header entry lacks dtype/shape/data_offsets");
      }
      // Integers only: get<> on a float or a negative number would convert unchecked.
      const nlohmann::json& shape = v.at("shape");
      const nlohmann::json& offsets = v.at("data_offsets");
      if (!shape.is_array() || !offsets.is_array()) return bad("shape/data_offsets not arrays");
      for (const nlohmann::json& d : shape) {
        if (!d.is_number_integer() || (!d.is_number_unsigned() && d.get<int64_t>() < 0))
          return bad("shape entries must be non-negative integers");
        if (d.is_number_unsigned() && d.get<uint64_t>() > uint64_t(INT64_MAX))
          return bad("dimension too large");
      }
      for (const nlohmann::json& o : offsets) {
        if (!o.is_number_unsigned()) return bad("data_offsets must be non-negative integers");
      }
      e.dtype = v.at("dtype").get<std::string>();
      e.shape = shape.get<std::vector<int64_t>>();
      const auto offs = offsets.get<std::vector<uint64_t>>();
      if (offs.size() != 2 || offs[0] > offs[1] || offs[1] > data_len) {
        return bad(absl::StrCat("data_offsets out of range (data region is ", data_len,
                                " bytes; file truncated?)"));
      }
      e.begin = data_start + offs[0];
      e.end = data_start + offs[1];
    } catch (const std::exception& ex) {
      return bad(absl::StrCat("malformed header entry: ", ex.what()));
    }
    const int esize = ElementSize(e.dtype);
    if (esize == 0) return bad(absl::StrCat("unknown dtype '", e.dtype, "'"));
    // Checked: a shape whose element count (or byte size) wraps around 2^64 could otherwise
    // match a small or empty data range.
    uint64_t numel = 1, nbytes = 0;
    for (int64_t d : e.shape) {
      if (d < 0) return bad("negative dimension");
      if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel))
        return bad(absl::StrCat("shape ", ShapeString(e.shape), " overflows"));
    }
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(esize), &nbytes))
      return bad(absl::StrCat("shape ", ShapeString(e.shape), " overflows"));
    if (nbytes != e.end - e.begin) {
      return bad(absl::StrCat("byte size ", e.end - e.begin, " does not match shape ",
                              ShapeString(e.shape), " of ", e.dtype));
    }
    if (!entries_.emplace(name, std::move(e)).second) {
      return bad("tensor appears in more than one file");
    }
  }
  files_.push_back(std::move(mapped));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  auto st = std::unique_ptr<SafetensorsFile>(new SafetensorsFile());
  st->path_ = path;
  const std::string kIndexSuffix = ".index.json";
  if (path.size() > kIndexSuffix.size() &&
      path.compare(path.size() - kIndexSuffix.size(), kIndexSuffix.size(), kIndexSuffix) == 0) {
    std::ifstream in(path);
    if (!in) return absl::NotFoundError(absl::StrCat("safetensors: cannot open index ", path));
    // shard file name -> tensors it should hold
    std::vector<std::pair<std::string, std::vector<std::string>>> shards;
    try {
      nlohmann::json index = nlohmann::json::parse(in);
      const nlohmann::json& map = index.at("weight_map");
      for (auto it = map.begin(); it != map.end(); ++it) {
        const std::string shard = it.value().get<std::string>();
        auto found = std::find_if(shards.begin(), shards.end(),
                                  [&](const auto& s) { return s.first == shard; });
        if (found == shards.end()) {
          shards.push_back({shard, {}});
          found = shards.end() - 1;
        }
        found->second.push_back(it.key());
      }
    } catch (const std::exception& e) {
      return absl::DataLossError(
          absl::StrCat("safetensors: malformed index ", path, ": ", e.what()));
    }
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    for (const auto& [shard, names] : shards) {
      RETURN_IF_ERROR(CheckShardName(path, shard));
      RETURN_IF_ERROR(st->AddFile((dir / shard).string(), &names));
      for (const std::string& n : names) {
        if (!st->entries_.contains(n)) {
          return absl::DataLossError(absl::StrCat("safetensors: index ", path, " maps tensor '", n,
                                                  "' to ", shard, " which does not hold it"));
        }
      }
    }
    return st;
  }
  RETURN_IF_ERROR(st->AddFile(path, nullptr));
  return st;
}

bool SafetensorsFile::Has(std::string_view name) const {
  return entries_.contains(std::string(name));
}

absl::StatusOr<TensorInfo> SafetensorsFile::Info(std::string_view name) const {
  auto it = entries_.find(std::string(name));
  if (it == entries_.end()) {
    return absl::NotFoundError(
        absl::StrCat("safetensors: ", path_, ": no tensor named '", std::string(name), "'"));
  }
  const Entry& e = it->second;
  TensorInfo info;
  info.name = std::string(name);
  info.file = files_[e.file_index]->path();
  if (!ParseDType(e.dtype, &info.dtype)) {
    return absl::UnimplementedError(absl::StrCat("safetensors: ", info.file, ": tensor '",
                                                 info.name, "' has unsupported dtype ", e.dtype,
                                                 " (supported: F32, F16, BF16)"));
  }
  info.shape = e.shape;
  return info;
}

std::vector<std::string> SafetensorsFile::Names() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const auto& [n, e] : entries_) names.push_back(n);
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<std::vector<float>> SafetensorsFile::LoadF32(
    std::string_view name, const std::vector<int64_t>& expected_shape) const {
  ASSIGN_OR_RETURN(TensorInfo info, Info(name));
  if (info.shape != expected_shape) {
    return absl::InvalidArgumentError(
        absl::StrCat("safetensors: ", info.file, ": tensor '", info.name, "' has shape ",
                     ShapeString(info.shape), ", expected ", ShapeString(expected_shape)));
  }
  const Entry& e = entries_.find(info.name)->second;
  const uint8_t* src = files_[e.file_index]->data() + e.begin;
  const size_t bytes = e.end - e.begin;
  std::vector<float> out;
  switch (info.dtype) {
    case DType::kF32:
      out.resize(bytes / 4);
      std::memcpy(out.data(), src, bytes);  // safetensors data is little-endian, as is x86
      break;
    case DType::kF16:
    case DType::kBF16: {
      out.resize(bytes / 2);
      const bool half = info.dtype == DType::kF16;
      for (size_t i = 0; i < out.size(); ++i) {
        uint16_t v;
        std::memcpy(&v, src + 2 * i, 2);
        out[i] = half ? HalfToFloat(v) : BFloat16ToFloat(v);
      }
      break;
    }
  }
  return out;
}

absl::Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                              DType dtype) {
  const int esize = dtype == DType::kF32 ? 4 : 2;
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= static_cast<uint64_t>(d);
    if (numel != t.data.size()) {
      return absl::InvalidArgumentError(absl::StrCat("WriteSafetensors ", path, ": tensor '",
                                                     t.name, "' has ", t.data.size(),
                                                     " values for shape ", ShapeString(t.shape)));
    }
    header[t.name] = {{"dtype", std::string(DTypeName(dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + numel * esize}}};
    offset += numel * esize;
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');  // keeps the data region 8-byte aligned
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat("WriteSafetensors: cannot create ", path));
  uint8_t len[8];
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  std::vector<uint16_t> buf;
  for (const NamedTensor& t : tensors) {
    if (dtype == DType::kF32) {
      out.write(reinterpret_cast<const char*>(t.data.data()),
                static_cast<std::streamsize>(t.data.size() * 4));
    } else {
      buf.resize(t.data.size());
      for (size_t i = 0; i < buf.size(); ++i) {
        buf[i] = dtype == DType::kF16 ? FloatToHalf(t.data[i]) : FloatToBFloat16(t.data[i]);
      }
      out.write(reinterpret_cast<const char*>(buf.data()),
                static_cast<std::streamsize>(buf.size() * 2));
    }
  }
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("WriteSafetensors: write failed for ", path));
  return absl::OkStatus();
}

absl::Status WriteSafetensorsF32(const std::string& path, const std::vector<NamedTensor>& tensors) {
  return WriteSafetensors(path, tensors, DType::kF32);
}

}  // namespace tartan::encoder
