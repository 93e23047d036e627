// Reads the layout and settings of a PyLate ColBERT model folder (and of Stanford
// HF_ColBERT checkpoints) without loading any weights. The rules are those of PyLate's
// ColBERT.__init__ / _load_sbert_model (see ../shared/PYLATE_ENCODE_SPEC.md, section 1).
//
// A PyLate folder:
//   modules.json                         Transformer (path "") + Dense modules, run in idx order
//   config.json, model.safetensors       the backbone (in the Transformer module's path)
//   tokenizer.json ...                   the tokenizer (same folder)
//   sentence_bert_config.json            do_lower_case (optional)
//   config_sentence_transformers.json    prefixes, lengths, skiplist, prompts (optional)
//   1_Dense/{config.json, model.safetensors}
// A Stanford checkpoint: config.json with architectures[0] == "HF_ColBERT", the projection as
// `linear.weight` inside model.safetensors, settings in artifact.metadata (optional).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tartan::encoder {

// The resolved ColBERT settings (defaults applied, Stanford metadata merged).
struct ColbertSettings {
  std::string query_prefix = "[Q] ";     // "" = no prefix on that side
  std::string document_prefix = "[D] ";  // "" = no prefix on that side
  int query_length = 32;
  int document_length = 180;
  bool attend_to_expansion_tokens = false;
  bool do_query_expansion = true;
  std::vector<std::string> skiplist_words;  // default: the 32 chars of string.punctuation
  std::map<std::string, std::string> prompts;
  std::optional<std::string> default_prompt_name;
  bool do_lower_case = false;
};

struct ModelFolder {
  std::string dir;           // the folder given
  std::string backbone_dir;  // folder of the Transformer module (config.json, weights, tokenizer)
  std::vector<std::string> dense_dirs;  // Dense module folders, in modules.json idx order
  // Stanford HF_ColBERT: the projection is `linear.weight` in the backbone's model.safetensors.
  bool stanford_projection = false;
  std::string backbone_architecture;  // config.json architectures[0] ("" when absent)
  ColbertSettings settings;
};

// Python's string.punctuation, one word per character.
std::vector<std::string> DefaultSkiplistWords();

// Reads modules.json, config_sentence_transformers.json, sentence_bert_config.json,
// config.json (architectures) and artifact.metadata. Errors name the offending file.
absl::StatusOr<ModelFolder> ReadModelFolder(const std::string& dir);

// Helpers shared by the loaders (errors name `path`).
absl::StatusOr<std::string> ReadTextFile(const std::string& path);
bool FileExists(const std::string& path);
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace tartan::encoder
