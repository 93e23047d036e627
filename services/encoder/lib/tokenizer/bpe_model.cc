#include "services/encoder/lib/tokenizer/bpe_model.h"

#include <functional>
#include <queue>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "services/encoder/lib/tokenizer/unicode.h"

namespace tartan::encoder {
namespace {

std::optional<std::string> OptString(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

bool BoolOr(const nlohmann::json& j, const char* key, bool dflt) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_boolean()) return dflt;
  return it->get<bool>();
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(const nlohmann::json& j) {
  auto m = std::unique_ptr<BpeModel>(new BpeModel());
  RETURN_IF_ERROR(m->vocab_.LoadJsonObject(j.at("vocab")));
  if (auto it = j.find("dropout"); it != j.end() && it->is_number() && it->get<double>() > 0) {
    return absl::UnimplementedError("BPE dropout is not supported (non-deterministic)");
  }
  m->unk_token_ = OptString(j, "unk_token");
  if (m->unk_token_) m->unk_id_ = m->vocab_.Find(*m->unk_token_);
  m->continuing_subword_prefix_ = OptString(j, "continuing_subword_prefix").value_or("");
  m->end_of_word_suffix_ = OptString(j, "end_of_word_suffix").value_or("");
  m->fuse_unk_ = BoolOr(j, "fuse_unk", false);
  m->byte_fallback_ = BoolOr(j, "byte_fallback", false);
  m->ignore_merges_ = BoolOr(j, "ignore_merges", false);

  const auto& merges = j.at("merges");
  m->merges_.reserve(merges.size());
  const size_t prefix_len = m->continuing_subword_prefix_.size();
  int32_t rank = 0;
  for (const auto& entry : merges) {
    std::string a, b;
    if (entry.is_string()) {
      // Legacy form "a b": exactly one space separates the two parts.
      const std::string s = entry.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("bad BPE merge entry '", s, "'"));
      }
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (entry.is_array() && entry.size() == 2) {
      a = entry[0].get<std::string>();
      b = entry[1].get<std::string>();
    } else {
      return absl::InvalidArgumentError(absl::StrCat("bad BPE merge entry at rank ", rank));
    }
    const auto id_a = m->vocab_.Find(a);
    const auto id_b = m->vocab_.Find(b);
    const std::string merged = a + (b.size() >= prefix_len ? b.substr(prefix_len) : b);
    const auto id_new = m->vocab_.Find(merged);
    if (!id_a || !id_b || !id_new) {
      return absl::InvalidArgumentError(
          absl::StrCat("BPE merge '", a, " ", b, "' refers to a token missing from the vocab"));
    }
    m->merges_[PairKey(*id_a, *id_b)] = Merge{rank, *id_new};
    ++rank;
  }
  return m;
}

void BpeModel::Tokenize(std::string_view word, std::vector<int32_t>* ids) const {
  if (ignore_merges_) {
    if (auto id = vocab_.Find(word)) {
      ids->push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  const absl::string_view key(word.data(), word.size());
  if (cacheable) {
    absl::ReaderMutexLock lock(&cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = ids->size();
  MergeWord(word, ids);
  if (cacheable) {
    absl::MutexLock lock(&cache_mu_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.emplace(std::string(word), std::vector<int32_t>(ids->begin() + first, ids->end()));
  }
}

void BpeModel::MergeWord(std::string_view word, std::vector<int32_t>* ids) const {
  std::vector<int32_t> sym;  // symbol ids, merged in place
  sym.reserve(word.size());
  int32_t pending_unk = -1;  // unk id waiting to be emitted (fuse_unk joins runs), or -1
  std::string s;
  size_t pos = 0;
  while (pos < word.size()) {
    const size_t start = pos;
    unicode::DecodeNext(word, &pos);
    s.clear();
    if (start > 0) s = continuing_subword_prefix_;
    s.append(word.substr(start, pos - start));
    if (pos == word.size()) s.append(end_of_word_suffix_);
    if (auto id = vocab_.Find(s)) {
      if (pending_unk >= 0) sym.push_back(pending_unk);
      pending_unk = -1;
      sym.push_back(*id);
      continue;
    }
    if (byte_fallback_) {
      std::vector<int32_t> bytes;
      bool all = true;
      for (unsigned char b : s) {
        auto id = vocab_.Find(absl::StrFormat("<0x%02X>", b));
        if (!id) {
          all = false;
          break;
        }
        bytes.push_back(*id);
      }
      if (all) {
        if (pending_unk >= 0) sym.push_back(pending_unk);
        pending_unk = -1;
        sym.insert(sym.end(), bytes.begin(), bytes.end());
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk >= 0 && !fuse_unk_) sym.push_back(pending_unk);
      pending_unk = *unk_id_;
    }
    // Without an unk token the character is dropped, as in Hugging Face.
  }
  if (pending_unk >= 0) sym.push_back(pending_unk);

  const int n = static_cast<int>(sym.size());
  std::vector<int> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  // Min-heap on (rank, left position): lowest rank first, leftmost among equal ranks.
  using Entry = std::pair<int32_t, int>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue;
  auto push_pair = [&](int left) {
    if (left < 0 || next[left] < 0) return;
    auto it = merges_.find(PairKey(sym[left], sym[next[left]]));
    if (it != merges_.end()) queue.emplace(it->second.rank, left);
  };
  for (int i = 0; i + 1 < n; ++i) push_pair(i);
  while (!queue.empty()) {
    const auto [rank, left] = queue.top();
    queue.pop();
    if (!alive[left] || next[left] < 0) continue;
    const int right = next[left];
    auto it = merges_.find(PairKey(sym[left], sym[right]));
    if (it == merges_.end() || it->second.rank != rank) continue;  // stale entry
    sym[left] = it->second.new_id;
    alive[right] = false;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    push_pair(prev[left]);
    push_pair(left);
  }
  for (int i = 0; i >= 0 && i < n; i = next[i]) ids->push_back(sym[i]);
}

}  // namespace tartan::encoder
