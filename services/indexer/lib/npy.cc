#include "services/indexer/lib/npy.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
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

}  // namespace

int64_t NpyArray::size() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
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
  if (header_start + header_len > bytes.size()) return bad("truncated header");
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
    while (e < shape.size() && std::isdigit(uint8_t(shape[e]))) ++e;
    if (e == p) return bad("bad shape '" + shape + "'");
    a.shape.push_back(std::stoll(shape.substr(p, e - p)));
    p = e;
  }
  if (a.dtype.size() < 3 || a.dtype[0] == '>') return bad("unsupported dtype '" + a.dtype + "'");
  const int64_t width = std::stoi(a.dtype.substr(2));
  const size_t need = size_t(a.size() * width);
  const size_t data_start = header_start + header_len;
  if (bytes.size() - data_start < need) {
    return bad(
        absl::StrCat("truncated data (", bytes.size() - data_start, " of ", need, " bytes)"));
  }
  a.data.assign(bytes.begin() + long(data_start), bytes.begin() + long(data_start + need));
  return a;
}

absl::StatusOr<std::vector<float>> NpyArray::AsFloat() const {
  std::vector<float> out(static_cast<size_t>(size()));
  const char kind = dtype[1];
  const int width = std::stoi(dtype.substr(2));
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
  std::vector<int64_t> out(static_cast<size_t>(size()));
  const char kind = dtype[1];
  const int width = std::stoi(dtype.substr(2));
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
