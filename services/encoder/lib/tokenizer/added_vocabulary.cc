#include "services/encoder/lib/tokenizer/added_vocabulary.h"

#include <algorithm>
#include <utility>

#include "services/encoder/lib/tokenizer/normalizer.h"
#include "services/encoder/lib/tokenizer/unicode.h"

namespace tartan::encoder {
namespace {

// Code point that ends just before byte `pos` (valid UTF-8, pos > 0).
char32_t CodePointBefore(std::string_view s, size_t pos) {
  size_t start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  size_t p = start;
  return unicode::DecodeNext(s, &p);
}

size_t StartOfTrailingSpace(std::string_view s, size_t end, size_t floor) {
  size_t pos = end;
  while (pos > floor) {
    size_t start = pos - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t p = start;
    if (!unicode::IsWhiteSpace(unicode::DecodeNext(s, &p))) break;
    pos = start;
  }
  return pos;
}

size_t EndOfLeadingSpace(std::string_view s, size_t begin) {
  size_t pos = begin;
  while (pos < s.size()) {
    size_t p = pos;
    if (!unicode::IsWhiteSpace(unicode::DecodeNext(s, &p))) break;
    pos = p;
  }
  return pos;
}

}  // namespace

void AddedVocabulary::Matcher::Insert(std::string_view pattern, int32_t token_index) {
  if (pattern.empty()) return;
  if (nodes.empty()) nodes.emplace_back();
  first_byte[static_cast<unsigned char>(pattern[0])] = true;
  int32_t node = 0;
  for (unsigned char b : pattern) {
    int32_t child = -1;
    for (const auto& [byte, idx] : nodes[node].children) {
      if (byte == b) child = idx;
    }
    if (child < 0) {
      child = static_cast<int32_t>(nodes.size());
      nodes[node].children.emplace_back(b, child);
      nodes.emplace_back();
    }
    node = child;
  }
  // First pattern wins on exact duplicates, as Aho-Corasick reports the lowest pattern id.
  if (nodes[node].token < 0) nodes[node].token = token_index;
}

size_t AddedVocabulary::Matcher::LongestAt(std::string_view text, size_t pos,
                                           int32_t* token_index) const {
  if (nodes.empty() || !first_byte[static_cast<unsigned char>(text[pos])]) return 0;
  int32_t node = 0;
  size_t best = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const unsigned char b = static_cast<unsigned char>(text[i]);
    int32_t child = -1;
    for (const auto& [byte, idx] : nodes[node].children) {
      if (byte == b) child = idx;
    }
    if (child < 0) break;
    node = child;
    if (nodes[node].token >= 0) {
      best = i + 1 - pos;
      *token_index = nodes[node].token;
    }
  }
  return best;
}

void AddedVocabulary::Add(AddedToken token) {
  auto it = by_content_.find(token.content);
  if (it != by_content_.end()) {
    by_id_.erase(tokens_[it->second].id);
    tokens_[it->second] = token;
    by_id_[token.id] = it->second;
    return;
  }
  by_content_[token.content] = tokens_.size();
  by_id_[token.id] = tokens_.size();
  tokens_.push_back(std::move(token));
}

void AddedVocabulary::Rebuild(const Normalizer* normalizer) {
  raw_ = Matcher();
  normalized_ = Matcher();
  // Hugging Face registers special tokens first; the order only matters for duplicates.
  std::vector<size_t> order(tokens_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return tokens_[a].special && !tokens_[b].special; });
  for (size_t i : order) {
    const AddedToken& t = tokens_[i];
    if (t.normalized) {
      const std::string pattern = normalizer ? normalizer->Normalize(t.content) : t.content;
      normalized_.Insert(pattern, static_cast<int32_t>(i));
    } else {
      raw_.Insert(t.content, static_cast<int32_t>(i));
    }
  }
}

std::optional<int32_t> AddedVocabulary::Find(std::string_view content) const {
  auto it = by_content_.find(absl::string_view(content.data(), content.size()));
  if (it == by_content_.end()) return std::nullopt;
  return tokens_[it->second].id;
}

const AddedToken* AddedVocabulary::ById(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

int32_t AddedVocabulary::max_id() const {
  int32_t m = -1;
  for (const auto& t : tokens_) m = std::max(m, t.id);
  return m;
}

std::vector<AddedVocabulary::Piece> AddedVocabulary::Split(std::string_view text,
                                                           bool normalized_set) const {
  const Matcher& matcher = normalized_set ? normalized_ : raw_;
  std::vector<Piece> out;
  size_t start_offset = 0;  // end of the previous emitted match
  size_t pos = 0;           // where the next leftmost-longest search starts
  while (pos < text.size() && !matcher.nodes.empty()) {
    int32_t index = -1;
    const size_t len = matcher.LongestAt(text, pos, &index);
    if (len == 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = tokens_[index];
    size_t begin = pos;
    size_t end = pos + len;
    pos = end;  // matches never overlap, even when this one is discarded
    if (tok.single_word) {
      const bool left_ok = begin == 0 || !unicode::IsWordChar(CodePointBefore(text, begin));
      size_t p = end;
      const bool right_ok =
          end == text.size() || !unicode::IsWordChar(unicode::DecodeNext(text, &p));
      if (!left_ok || !right_ok) continue;
    }
    if (tok.lstrip) begin = StartOfTrailingSpace(text, begin, start_offset);
    if (tok.rstrip) end = EndOfLeadingSpace(text, end);
    if (start_offset < begin) out.push_back({start_offset, begin, -1});
    out.push_back({begin, end, tok.id});
    start_offset = end;
    pos = std::max(pos, end);
  }
  if (start_offset < text.size()) out.push_back({start_offset, text.size(), -1});
  return out;
}

}  // namespace tartan::encoder
