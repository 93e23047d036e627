// Helpers for the ColBERT encoder unit tests: shared-data lookup and scratch copies of model
// folders that a test may edit.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace tartan::encoder::testing {

inline std::string SharedDirOrEmpty() {
  const char* env = std::getenv("TARTAN_SHARED_DIR");
  const std::string dir = env != nullptr ? env : "../shared";
  return std::filesystem::is_directory(dir + "/golden/models") ? dir : "";
}

// A fresh directory, removed by the destructor.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            (name + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }
  std::string Sub(const std::string& rel) const { return (path_ / rel).string(); }

  // Copies a model folder (recursively) to <scratch>/<name>, writable.
  std::string CopyModel(const std::string& from, const std::string& name) const {
    const std::filesystem::path to = path_ / name;
    std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
    for (const auto& e : std::filesystem::recursive_directory_iterator(to)) {
      std::filesystem::permissions(e.path(), std::filesystem::perms::owner_write,
                                   std::filesystem::perm_options::add);
    }
    std::filesystem::permissions(to, std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::add);
    return to.string();
  }

 private:
  std::filesystem::path path_;
};

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace tartan::encoder::testing
