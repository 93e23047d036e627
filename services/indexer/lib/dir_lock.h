// An exclusive lock on a shard directory (flock on <dir>/LOCK) held while the shard is open,
// so a second process opening the same directory — another indexer, `tartanctl import-plaid`
// — fails at once instead of corrupting it. The kernel drops the lock when the process dies.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tartan::index {

class DirLock {
 public:
  // FAILED_PRECONDITION when another open shard holds it.
  static absl::StatusOr<std::unique_ptr<DirLock>> Acquire(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  const int fd_;
};

}  // namespace tartan::index
