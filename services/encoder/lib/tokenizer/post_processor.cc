#include "services/encoder/lib/tokenizer/post_processor.h"

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/json_integer.h"

namespace tartan::encoder {
namespace {

// BertProcessing / RobertaProcessing store tokens as ["[CLS]", 101].
int32_t PairId(const nlohmann::json& pair) { return JsonInteger<int32_t>(pair.at(1)); }

}  // namespace

absl::StatusOr<PostProcessor> PostProcessor::FromJson(const nlohmann::json& j) {
  PostProcessor p;
  if (j.is_null()) return p;
  const std::string type = j.value("type", "");
  if (type == "ByteLevel") return p;
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    p.items_ = {Item{false, {PairId(j.at("cls"))}}, Item{true, {}},
                Item{false, {PairId(j.at("sep"))}}};
    return p;
  }
  if (type == "TemplateProcessing") {
    const auto& specials = j.at("special_tokens");
    p.items_.clear();
    int sequences = 0;
    for (const auto& piece : j.at("single")) {
      if (piece.contains("Sequence")) {
        p.items_.push_back(Item{true, {}});
        ++sequences;
      } else if (piece.contains("SpecialToken")) {
        const std::string name = piece["SpecialToken"].at("id").get<std::string>();
        if (!specials.contains(name)) {
          return absl::InvalidArgumentError(
              absl::StrCat("template special token '", name, "' missing from special_tokens"));
        }
        p.items_.push_back(Item{false, specials[name].at("ids").get<std::vector<int32_t>>()});
      } else {
        return absl::InvalidArgumentError("unrecognised TemplateProcessing piece");
      }
    }
    if (sequences != 1) {
      return absl::InvalidArgumentError("single template must contain $A exactly once");
    }
    return p;
  }
  if (type == "Sequence") {
    // Each processor wraps the previous result, so nest their special items around $A.
    for (const auto& sub : j.at("processors")) {
      auto inner = FromJson(sub);
      if (!inner.ok()) return inner.status();
      std::vector<Item> merged;
      for (const Item& item : inner->items_) {
        if (item.is_sequence) {
          merged.insert(merged.end(), p.items_.begin(), p.items_.end());
        } else {
          merged.push_back(item);
        }
      }
      p.items_ = std::move(merged);
    }
    return p;
  }
  return absl::UnimplementedError(absl::StrCat("unsupported post_processor type '", type, "'"));
}

std::vector<int32_t> PostProcessor::Apply(const std::vector<int32_t>& content) const {
  std::vector<int32_t> out;
  out.reserve(content.size() + num_special_tokens());
  for (const Item& item : items_) {
    if (item.is_sequence) {
      out.insert(out.end(), content.begin(), content.end());
    } else {
      out.insert(out.end(), item.ids.begin(), item.ids.end());
    }
  }
  return out;
}

int PostProcessor::num_special_tokens() const {
  int n = 0;
  for (const Item& item : items_) {
    if (!item.is_sequence) n += static_cast<int>(item.ids.size());
  }
  return n;
}

}  // namespace tartan::encoder
