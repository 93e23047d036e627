// Tokenizer::FromJson on arbitrary tokenizer.json text; a tokenizer that loads must encode
// a fixed text (and a marker added with AddToken) without crashing.
#include <cstdint>
#include <string_view>

#include "services/encoder/lib/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  auto tokenizer = tartan::encoder::Tokenizer::FromJson(json);
  if (!tokenizer.ok()) {
    return 0;
  }
  tartan::encoder::Tokenizer& t = **tokenizer;
  t.Encode("Hello, world! héllo \xff wörld [MASK] 12345", true, 0);
  t.Encode("a", true, 3);
  t.AddToken("[Q] ", false);
  t.Encode("[Q] query text", true, 16);
  t.TokenToId("[UNK]");
  t.IdToToken(0);
  t.IdToToken(t.vocab_size() - 1);
  return 0;
}
