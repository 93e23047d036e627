#include "tests/fuzz/fuzz_support.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace tartan::fuzz {

namespace {

void RemoveScratch();

std::string MakeScratch() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/tartan-fuzz-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  return pattern;
}

void RemoveScratch() {
  std::error_code ignored;
  std::filesystem::remove_all(ScratchDir(), ignored);
}

}  // namespace

const std::string& ScratchDir() {
  static const std::string* dir = [] {
    auto* d = new std::string(MakeScratch());
    std::atexit(RemoveScratch);
    return d;
  }();
  return *dir;
}

void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz: cannot read %s (set TARTAN_SHARED_DIR)\n", path.c_str());
    std::abort();
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string SharedDir() {
  const char* env = std::getenv("TARTAN_SHARED_DIR");
  return env != nullptr ? env : TARTAN_FUZZ_SHARED_DIR;
}

std::vector<std::pair<int, std::string_view>> SplitRecords(const uint8_t* data, size_t size,
                                                           int num_names) {
  std::vector<std::pair<int, std::string_view>> records;
  size_t pos = 0;
  while (pos + 4 <= size) {
    const int name = data[pos] % num_names;
    size_t len =
        size_t(data[pos + 1]) | (size_t(data[pos + 2]) << 8) | (size_t(data[pos + 3]) << 16);
    pos += 4;
    len = std::min(len, size - pos);
    records.emplace_back(name, std::string_view(reinterpret_cast<const char*>(data + pos), len));
    pos += len;
  }
  return records;
}

}  // namespace tartan::fuzz
