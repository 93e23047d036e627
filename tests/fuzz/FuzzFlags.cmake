# Included by the top-level CMakeLists.txt before any target when TARTAN_BUILD_FUZZERS is on:
# every library is compiled with libFuzzer's coverage hooks plus ASan and UBSan, so the fuzz
# targets (tests/fuzz/CMakeLists.txt) see into the code they call. Clang only.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "TARTAN_BUILD_FUZZERS needs clang (libFuzzer); configure with "
                      "CC=clang-14 CXX=clang++-14 (scripts/fuzz.sh does)")
endif()
if(TARTAN_SANITIZE)
  message(FATAL_ERROR "TARTAN_BUILD_FUZZERS brings its own sanitizers; leave TARTAN_SANITIZE empty")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                    -fno-omit-frame-pointer)
add_link_options(-fsanitize=address,undefined)
