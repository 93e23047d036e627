#include "services/indexer/lib/npy.h"

#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/indexer/lib/codec.h"

namespace tartan::index {
namespace {

// Value of 'key': in a python dict literal header.
std::string Field(const std::string& header, const std::string& key) {
  size_t p = header.find("'" + key + "'");
  if (p == std::string::npos) return "";
  p = header.find(':', p);
  if (p == std::string::npos) return "";
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  if (p >= header.size()) return "";
  if (header[p] == '\'') {
    size_t e = header.find('\'', p + 1);
    return e == std::string::npos ? "" : header.substr(p + 1, e - p - 1);
  }
  if (header[p] == '(') {
    size_t e = header.find(')', p);
    return e == std::string::npos ? "" : header.substr(p + 1, e - p - 1);
  }
  size_t e = header.find_first_of(",}", p);
  return header.substr(p, e - p);
}

// Element width of a dtype descr such as "<f4": digits only, 1..8; 0 for anything else.
int DTypeWidth(const std::string& dtype) {
  if (dtype.size() < 3 || dtype.size() > 4) return 0;
  int w = 0;
  for (size_t i = 2; i < dtype.size(); ++i) {
    if (!std::isdigit(uint8_t(dtype[i]))) return 0;
    w = w * 10 + (dtype[i] - '0');
  }
  return (w == 1 || w == 2 || w == 4 || w == 8) ? w : 0;
}

// Product of the shape, or -1 for a negative dimension or an int64 overflow.
int64_t CheckedProduct(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t s : shape) {
    if (s < 0 || __builtin_mul_overflow(n, s, &n)) return -1;
  }
  return n;
}

// size() * width == data.size() with a valid width, so element reads stay in bounds.
absl::Status CheckLayout(const NpyArray& a, int width) {
  const int64_t n = CheckedProduct(a.shape);
  int64_t bytes = 0;
  if (width == 0 || n < 0 || __builtin_mul_overflow(n, int64_t(width), &bytes) ||
      uint64_t(bytes) != a.data.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("npy array of dtype '", a.dtype, "' does not match its data size"));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t NpyArray::size() const {
  const int64_t n = CheckedProduct(shape);
  return n < 0 ? 0 : n;
}

absl::StatusOr<NpyArray> ReadNpy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto bad = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat(path, ": not a valid .npy file: ", why));
  };
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) return bad("bad magic");
  const int major = uint8_t(bytes[6]);
  if (major < 1 || major > 3) return bad(absl::StrCat("unsupported version ", major));
  size_t header_len, header_start;
  if (major == 1) {
    header_len = uint8_t(bytes[8]) | (size_t(uint8_t(bytes[9])) << 8);
    header_start = 10;
  } else {
    if (bytes.size() < 12) return bad("truncated header");
    uint32_t l;
    std::memcpy(&l, bytes.data() + 8, 4);
    header_len = l;
    header_start = 12;
  }
  if (header_len > bytes.size() - header_start) return bad("truncated header");
  const std::string header = bytes.substr(header_start, header_len);
  NpyArray a;
  a.dtype = Field(header, "descr");
  if (Field(header, "fortran_order").find("True") != std::string::npos)
    return bad("fortran order is not supported");
  const std::string shape = Field(header, "shape");
  size_t p = 0;
  while (p < shape.size()) {
    while (p < shape.size() && (shape[p] == ' ' || shape[p] == ',')) ++p;
    if (p >= shape.size()) break;
    size_t e = p;
    int64_t dim = 0;
    while (e < shape.size() && std::isdigit(uint8_t(shape[e]))) {
      if (__builtin_mul_overflow(dim, int64_t(10), &dim) ||
          __builtin_add_overflow(dim, int64_t(shape[e] - '0'), &dim))
        return bad("shape dimension too large in '" + shape + "'");
      ++e;
    }
    if (e == p) return bad("bad shape '" + shape + "'");
    if (a.shape.size() >= 32) return bad("too many dimensions");
    a.shape.push_back(dim);
    p = e;
  }
  if (a.dtype.size() < 3 || a.dtype[0] == '>') return bad("unsupported dtype '" + a.dtype + "'");
  const int64_t width = DTypeWidth(a.dtype);
  if (width == 0) return bad("unsupported dtype '" + a.dtype + "'");
  const int64_t count = CheckedProduct(a.shape);
  int64_t need_signed = 0;
  if (count < 0 || __builtin_mul_overflow(count, width, &need_signed))
    return bad("shape '" + shape + "' overflows");
  const size_t need = size_t(need_signed);
  const size_t data_start = header_start + header_len;
  if (bytes.size() - data_start != need) {
    return bad(absl::StrCat(bytes.size() - data_start < need ? "truncated" : "trailing", " data (",
                            bytes.size() - data_start, " bytes for ", need, " expected)"));
  }
  a.data.assign(bytes.begin() + long(data_start), bytes.begin() + long(data_start + need));
  return a;
}

absl::StatusOr<std::vector<float>> NpyArray::AsFloat() const {
  const int width = DTypeWidth(dtype);
  RETURN_IF_ERROR(CheckLayout(*this, width));
  const char kind = dtype[1];
  std::vector<float> out(static_cast<size_t>(size()));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t* p = data.data() + i * width;
    if (kind == 'f' && width == 2) {
      uint16_t h;
      std::memcpy(&h, p, 2);
      out[i] = HalfToFloat(h);
    } else if (kind == 'f' && width == 4) {
      std::memcpy(&out[i], p, 4);
    } else if (kind == 'f' && width == 8) {
      double d;
      std::memcpy(&d, p, 8);
      out[i] = float(d);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("expected a float array, got ", dtype));
    }
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> NpyArray::AsInt64() const {
  const int width = DTypeWidth(dtype);
  RETURN_IF_ERROR(CheckLayout(*this, width));
  const char kind = dtype[1];
  std::vector<int64_t> out(static_cast<size_t>(size()));
  if ((kind != 'i' && kind != 'u') || (width != 1 && width != 2 && width != 4 && width != 8))
    return absl::InvalidArgumentError(absl::StrCat("expected an integer array, got ", dtype));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t* p = data.data() + i * width;
    uint64_t u = 0;
    std::memcpy(&u, p, width);
    if (kind == 'i' && width < 8 && (u >> (width * 8 - 1)) & 1) u |= ~uint64_t(0) << (width * 8);
    out[i] = int64_t(u);
  }
  return out;
}

}  // namespace tartan::index
