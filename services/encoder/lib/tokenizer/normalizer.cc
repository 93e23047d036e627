#include "services/encoder/lib/tokenizer/normalizer.h"

#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/encoder/lib/tokenizer/unicode.h"

namespace tartan::encoder {
namespace {

using unicode::AppendUtf8;
using unicode::DecodeNext;

class FormNormalizer : public Normalizer {
 public:
  explicit FormNormalizer(unicode::NormalForm form) : form_(form) {}
  std::string Normalize(std::string_view text) const override {
    return unicode::Normalize(text, form_);
  }

 private:
  unicode::NormalForm form_;
};

// Per-code-point lowercase, as NormalizedString::lowercase (char::to_lowercase).
std::string LowercaseChars(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) unicode::AppendLowerCodePoint(DecodeNext(text, &pos), &out);
  return out;
}

// NFD, then drop nonspacing marks (Mn).
std::string StripAccents(std::string_view text) {
  const std::string nfd = unicode::Normalize(text, unicode::NormalForm::kNfd);
  std::string out;
  out.reserve(nfd.size());
  size_t pos = 0;
  while (pos < nfd.size()) {
    const char32_t c = DecodeNext(nfd, &pos);
    if (!unicode::IsMarkNonspacing(c)) AppendUtf8(c, &out);
  }
  return out;
}

class LowercaseNormalizer : public Normalizer {
 public:
  std::string Normalize(std::string_view text) const override { return LowercaseChars(text); }
};

class StripAccentsNormalizer : public Normalizer {
 public:
  std::string Normalize(std::string_view text) const override { return StripAccents(text); }
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  std::string Normalize(std::string_view text) const override {
    size_t begin = text.size(), end = 0, pos = 0;
    while (pos < text.size()) {
      const size_t start = pos;
      if (!unicode::IsWhiteSpace(DecodeNext(text, &pos))) {
        if (begin == text.size()) begin = start;
        end = pos;
      }
    }
    if (begin >= end) return std::string();
    if (!left_) begin = 0;
    if (!right_) end = text.size();
    return std::string(text.substr(begin, end - begin));
  }

 private:
  bool left_, right_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(std::string pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::string Normalize(std::string_view text) const override {
    std::string out;
    size_t pos = 0;
    while (true) {
      const size_t hit = text.find(pattern_, pos);
      if (hit == std::string_view::npos) break;
      out.append(text.substr(pos, hit - pos));
      out.append(content_);
      pos = hit + pattern_.size();
    }
    out.append(text.substr(pos));
    return out;
  }

 private:
  std::string pattern_, content_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string Normalize(std::string_view text) const override {
    if (text.empty()) return std::string();
    return prefix_ + std::string(text);
  }

 private:
  std::string prefix_;
};

// Hugging Face BertNormalizer: clean_text, handle_chinese_chars, strip_accents (defaults to
// `lowercase` when null), lowercase — in that order.
class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_text_(clean_text), chinese_(chinese), strip_(strip_accents), lower_(lowercase) {}

  std::string Normalize(std::string_view text) const override {
    std::string s;
    s.reserve(text.size() + 8);
    size_t pos = 0;
    bool ascii = true;
    while (pos < text.size()) {
      const char32_t c = DecodeNext(text, &pos);
      if (clean_text_) {
        if (c == 0 || c == 0xFFFD || unicode::IsBertControl(c)) continue;
        if (unicode::IsWhiteSpace(c)) {
          s.push_back(' ');
          continue;
        }
      }
      if (chinese_ && unicode::IsChineseChar(c)) {
        s.push_back(' ');
        AppendUtf8(c, &s);
        s.push_back(' ');
        ascii = false;
        continue;
      }
      if (c >= 0x80) ascii = false;
      AppendUtf8(c, &s);
    }
    if (strip_ && !ascii) s = StripAccents(s);
    if (lower_) s = LowercaseChars(s);
    return s;
  }

 private:
  bool clean_text_, chinese_, strip_, lower_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  std::string Normalize(std::string_view text) const override {
    std::string s(text);
    for (const auto& p : parts_) s = p->Normalize(s);
    return s;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

bool BoolOr(const nlohmann::json& j, const char* key, bool dflt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  return it->get<bool>();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Normalizer>> Normalizer::FromJson(const nlohmann::json& j) {
  if (j.is_null()) return std::unique_ptr<Normalizer>();
  const std::string type = j.value("type", "");
  if (type == "NFC") return std::make_unique<FormNormalizer>(unicode::NormalForm::kNfc);
  if (type == "NFD") return std::make_unique<FormNormalizer>(unicode::NormalForm::kNfd);
  if (type == "NFKC") return std::make_unique<FormNormalizer>(unicode::NormalForm::kNfkc);
  if (type == "NFKD") return std::make_unique<FormNormalizer>(unicode::NormalForm::kNfkd);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(BoolOr(j, "strip_left", true),
                                             BoolOr(j, "strip_right", true));
  }
  if (type == "Prepend")
    return std::make_unique<PrependNormalizer>(j.at("prepend").get<std::string>());
  if (type == "Replace") {
    const auto& pattern = j.at("pattern");
    if (!pattern.contains("String")) {
      return absl::UnimplementedError("Replace normalizer: only String patterns are supported");
    }
    return std::make_unique<ReplaceNormalizer>(pattern.at("String").get<std::string>(),
                                               j.at("content").get<std::string>());
  }
  if (type == "BertNormalizer") {
    const bool lowercase = BoolOr(j, "lowercase", true);
    return std::make_unique<BertNormalizer>(BoolOr(j, "clean_text", true),
                                            BoolOr(j, "handle_chinese_chars", true),
                                            BoolOr(j, "strip_accents", lowercase), lowercase);
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (const auto& sub : j.at("normalizers")) {
      ASSIGN_OR_RETURN(auto part, Normalizer::FromJson(sub));
      if (part) parts.push_back(std::move(part));
    }
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  return absl::UnimplementedError(absl::StrCat("unsupported normalizer type '", type, "'"));
}

}  // namespace tartan::encoder
