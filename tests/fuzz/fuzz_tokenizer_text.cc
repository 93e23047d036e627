// Tokenizer::Encode on arbitrary bytes (ill-formed UTF-8 included) with the two real
// tokenizers the encoder ships for: BERT WordPiece and ModernBERT byte-level BPE.
// Byte 0 picks the tokenizer, special tokens and a truncation length; the rest is the text.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "services/encoder/lib/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using tartan::encoder::Tokenizer;

std::unique_ptr<Tokenizer> Load(const std::string& folder) {
  auto tokenizer =
      Tokenizer::FromFile(tartan::fuzz::SharedDir() + "/data/" + folder + "/tokenizer.json");
  if (!tokenizer.ok()) {
    std::abort();  // setup error, not a finding
  }
  return *std::move(tokenizer);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::unique_ptr<Tokenizer> bert = Load("bert-base-uncased");
  static const std::unique_ptr<Tokenizer> modernbert = Load("modernbert-tokenizer");
  if (size == 0) {
    return 0;
  }
  const uint8_t mode = data[0];
  const Tokenizer& tokenizer = (mode & 1) != 0 ? *modernbert : *bert;
  const bool special = (mode & 2) != 0;
  const int max_length = (mode >> 2) % 8 == 0 ? 0 : (mode >> 2);
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::vector<int32_t> ids = tokenizer.Encode(text, special, max_length);
  // Truncation holds (special tokens are always added, even past a tiny max_length).
  const int special_ids = special ? tokenizer.num_special_tokens_to_add() : 0;
  if (max_length > 0 && int(ids.size()) > std::max(max_length, special_ids)) {
    std::abort();
  }
  for (int32_t id : ids) {
    if (id < 0 || id >= tokenizer.vocab_size() || !tokenizer.IdToToken(id).has_value()) {
      std::abort();  // every id must be one of the vocabulary's
    }
  }
  return 0;
}
