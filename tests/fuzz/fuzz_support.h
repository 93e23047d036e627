// Helpers shared by the libFuzzer targets (tests/fuzz/README.md): a scratch folder per
// process, file writes for parsers that take paths, the shared reference data folder, and a
// splitter that turns one fuzz input into several named files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tartan::fuzz {

// A folder created once per process under $TMPDIR (removed at exit).
const std::string& ScratchDir();
// Writes `bytes` to `path` (truncating); aborts on I/O errors (they are not findings).
void WriteFile(const std::string& path, std::string_view bytes);
// Reads `path`; aborts when it cannot (a missing seed file is a setup error).
std::string ReadFile(const std::string& path);
// $TARTAN_SHARED_DIR, else the ../shared folder this build was configured with.
std::string SharedDir();

// Splits `data` into (name index, contents) records: one byte selects the name
// (modulo num_names), three little-endian bytes give the length (cut to what is left).
std::vector<std::pair<int, std::string_view>> SplitRecords(const uint8_t* data, size_t size,
                                                           int num_names);

}  // namespace tartan::fuzz
