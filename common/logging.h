// Levelled logging to stderr: one line per event, "<time> <LEVEL> <file>:<line>] message".
// The level is process-wide (set once in main from --log_level / TARTAN_LOG_LEVEL).
#pragma once

#include <sstream>
#include <string_view>

#include "absl/status/statusor.h"

namespace tartan {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "debug", "info", "warning"/"warn", "error" (case-insensitive).
absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name);

namespace internal {
class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();  // writes the line atomically
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};
}  // namespace internal
}  // namespace tartan

#define TARTAN_LOG_IS_ON(level) (::tartan::LogLevel::level >= ::tartan::GetLogLevel())
#define TARTAN_LOG(level)         \
  if (!TARTAN_LOG_IS_ON(level)) { \
  } else                          \
    ::tartan::internal::LogMessage(::tartan::LogLevel::level, __FILE__, __LINE__).stream()
#define LOG_DEBUG TARTAN_LOG(kDebug)
#define LOG_INFO TARTAN_LOG(kInfo)
#define LOG_WARNING TARTAN_LOG(kWarning)
#define LOG_ERROR TARTAN_LOG(kError)
