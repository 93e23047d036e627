#include "services/encoder/lib/tokenizer/pre_tokenizer.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/encoder/lib/tokenizer/unicode.h"

namespace tartan::encoder {
namespace {

using unicode::DecodeNext;

enum CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

CharClass Classify(char32_t c) {
  if (unicode::IsWhiteSpace(c)) return kSpace;
  if (unicode::IsLetter(c)) return kLetter;
  if (unicode::IsNumber(c)) return kNumber;
  return kOther;
}

// Splits on a predicate over code points. `drop` matches are removed (like whitespace);
// `isolate` matches become one-character words.
template <typename DropFn, typename IsolateFn>
void SplitChars(std::string_view piece, DropFn drop, IsolateFn isolate,
                std::vector<std::string>* words) {
  size_t word_start = 0, pos = 0;
  while (pos < piece.size()) {
    const size_t start = pos;
    const char32_t c = DecodeNext(piece, &pos);
    const bool d = drop(c);
    if (d || isolate(c)) {
      if (start > word_start) words->emplace_back(piece.substr(word_start, start - word_start));
      if (!d) words->emplace_back(piece.substr(start, pos - start));
      word_start = pos;
    }
  }
  if (piece.size() > word_start) words->emplace_back(piece.substr(word_start));
}

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}

  void PreTokenize(std::string_view piece, std::vector<std::string>* words) const override {
    std::string owned;
    if (add_prefix_space_ && (piece.empty() || piece.front() != ' ')) {
      owned = " ";
      owned.append(piece);
      piece = owned;
    }
    if (piece.empty()) return;
    const auto& table = ByteToUnicodeTable();
    auto emit = [&](size_t b, size_t e) {
      std::string w;
      w.reserve((e - b) * 2);
      for (size_t i = b; i < e; ++i) w.append(table[static_cast<unsigned char>(piece[i])]);
      words->push_back(std::move(w));
    };
    if (!use_regex_) {
      emit(0, piece.size());
      return;
    }
    for (const auto& [b, e] : SplitGpt2(piece)) emit(b, e);
  }

 private:
  bool add_prefix_space_, use_regex_;
};

class BertPreTokenizer : public PreTokenizer {
 public:
  void PreTokenize(std::string_view piece, std::vector<std::string>* words) const override {
    SplitChars(piece, unicode::IsWhiteSpace, unicode::IsBertPunctuation, words);
  }
};

class WhitespaceSplitPreTokenizer : public PreTokenizer {
 public:
  void PreTokenize(std::string_view piece, std::vector<std::string>* words) const override {
    SplitChars(
        piece, unicode::IsWhiteSpace, [](char32_t) { return false; }, words);
  }
};

class PunctuationPreTokenizer : public PreTokenizer {
 public:
  void PreTokenize(std::string_view piece, std::vector<std::string>* words) const override {
    SplitChars(
        piece, [](char32_t) { return false; }, unicode::IsBertPunctuation, words);
  }
};

// Regex \w+|[^\w\s]+ : runs of word characters and runs of other non-space characters.
class WhitespacePreTokenizer : public PreTokenizer {
 public:
  void PreTokenize(std::string_view piece, std::vector<std::string>* words) const override {
    size_t pos = 0, run_start = 0;
    int run_kind = -1;  // -1 none, 0 word, 1 other
    while (pos < piece.size()) {
      const size_t start = pos;
      const char32_t c = DecodeNext(piece, &pos);
      const int kind = unicode::IsWordChar(c) ? 0 : unicode::IsWhiteSpace(c) ? -1 : 1;
      if (kind != run_kind) {
        if (run_kind >= 0) words->emplace_back(piece.substr(run_start, start - run_start));
        run_start = start;
        run_kind = kind;
      }
    }
    if (run_kind >= 0) words->emplace_back(piece.substr(run_start));
  }
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void PreTokenize(std::string_view piece, std::vector<std::string>* words) const override {
    std::vector<std::string> current{std::string(piece)};
    for (const auto& p : parts_) {
      std::vector<std::string> next;
      for (const auto& w : current) p->PreTokenize(w, &next);
      current = std::move(next);
    }
    for (auto& w : current) {
      if (!w.empty()) words->push_back(std::move(w));
    }
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

bool BoolOr(const nlohmann::json& j, const char* key, bool dflt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  return it->get<bool>();
}

}  // namespace

std::vector<std::pair<size_t, size_t>> SplitGpt2(std::string_view text) {
  std::vector<char32_t> cps;
  std::vector<size_t> offs;  // byte offset of each code point, plus the end
  cps.reserve(text.size());
  offs.reserve(text.size() + 1);
  size_t pos = 0;
  while (pos < text.size()) {
    offs.push_back(pos);
    cps.push_back(DecodeNext(text, &pos));
  }
  offs.push_back(text.size());
  const size_t n = cps.size();
  std::vector<CharClass> cls(n);
  for (size_t i = 0; i < n; ++i) cls[i] = Classify(cps[i]);

  std::vector<std::pair<size_t, size_t>> out;
  size_t i = 0;
  while (i < n) {
    size_t end = i + 1;
    const char32_t c = cps[i];
    // Alternatives 1..7: the contractions, tried first at this position.
    size_t contraction = 0;
    if (c == '\'' && i + 1 < n) {
      const char32_t a = cps[i + 1];
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        contraction = 2;
      } else if (i + 2 < n && ((a == 'r' && cps[i + 2] == 'e') || (a == 'v' && cps[i + 2] == 'e') ||
                               (a == 'l' && cps[i + 2] == 'l'))) {
        contraction = 3;
      }
    }
    if (contraction > 0) {
      end = i + contraction;
    } else {
      // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional ASCII space, then a run of
      // one class. The space is taken only when a non-space character follows it.
      size_t j = i;
      if (c == ' ' && i + 1 < n && cls[i + 1] != kSpace) j = i + 1;
      const CharClass k = cls[j];
      if (k != kSpace) {
        end = j + 1;
        while (end < n && cls[end] == k) ++end;
      } else {
        // `\s+(?!\S)` then `\s+`: a whitespace run keeps its last character for the next
        // token when a non-space follows (so " word" stays together).
        size_t e = i;
        while (e < n && cls[e] == kSpace) ++e;
        if (e == n) {
          end = n;
        } else if (e - i >= 2) {
          end = e - 1;
        } else {
          end = i + 1;
        }
      }
    }
    out.emplace_back(offs[i], offs[end]);
    i = end;
  }
  return out;
}

const std::vector<std::string>& ByteToUnicodeTable() {
  static const std::vector<std::string>* table = [] {
    auto* t = new std::vector<std::string>(256);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
      const char32_t cp =
          printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++);
      unicode::AppendUtf8(cp, &(*t)[b]);
    }
    return t;
  }();
  return *table;
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::FromJson(const nlohmann::json& j) {
  if (j.is_null()) return std::unique_ptr<PreTokenizer>();
  const std::string type = j.value("type", "");
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(BoolOr(j, "add_prefix_space", true),
                                                   BoolOr(j, "use_regex", true));
  }
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "WhitespaceSplit") return std::make_unique<WhitespaceSplitPreTokenizer>();
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "Punctuation") return std::make_unique<PunctuationPreTokenizer>();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const auto& sub : j.at("pretokenizers")) {
      ASSIGN_OR_RETURN(auto part, PreTokenizer::FromJson(sub));
      if (part) parts.push_back(std::move(part));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  return absl::UnimplementedError(absl::StrCat("unsupported pre_tokenizer type '", type, "'"));
}

}  // namespace tartan::encoder
