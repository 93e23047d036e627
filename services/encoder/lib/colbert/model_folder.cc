#include "services/encoder/lib/colbert/model_folder.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/json_integer.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace tartan::encoder {
namespace {

using Json = nlohmann::json;

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

absl::StatusOr<Json> ParseJsonFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": invalid JSON: ", e.what()));
  }
}

// Whether a modules.json "type" names the sentence-transformers Transformer module.
bool IsTransformerType(const std::string& type) {
  return type == "sentence_transformers.models.Transformer" ||
         type == "sentence_transformers.models.Transformer.Transformer";
}

// PyLate's own Dense or a sentence-transformers Dense (converted by PyLate).
bool IsDenseType(const std::string& type) {
  return type == "pylate.models.Dense.Dense" || type == "pylate.models.Dense" ||
         type == "sentence_transformers.models.Dense" ||
         type == "sentence_transformers.models.Dense.Dense";
}

struct ModuleEntry {
  int idx = 0;
  std::string path;
  std::string type;
};

absl::StatusOr<std::vector<ModuleEntry>> ReadModules(const std::string& path) {
  ASSIGN_OR_RETURN(Json j, ParseJsonFile(path));
  std::vector<ModuleEntry> modules;
  try {
    if (!j.is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": expected a JSON array of modules"));
    }
    for (size_t i = 0; i < j.size(); ++i) {
      const Json& m = j[i];
      if (!m.is_object() || !m.contains("type") || !m["type"].is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": module ", i, " has no string \"type\""));
      }
      ModuleEntry entry;
      entry.idx = m.contains("idx") && m["idx"].is_number_integer() ? m["idx"].get<int>()
                                                                    : static_cast<int>(i);
      entry.path = m.contains("path") && m["path"].is_string() ? m["path"].get<std::string>() : "";
      entry.type = m["type"].get<std::string>();
      modules.push_back(std::move(entry));
    }
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
  std::stable_sort(modules.begin(), modules.end(),
                   [](const ModuleEntry& a, const ModuleEntry& b) { return a.idx < b.idx; });
  return modules;
}

// Present and not null.
bool Has(const Json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

// Applies config_sentence_transformers.json (a key that is missing or null keeps the default).
absl::Status ApplySentenceTransformersConfig(const std::string& path, ColbertSettings* s,
                                             bool* has_query_prefix, bool* has_document_prefix,
                                             bool* has_query_length, bool* has_document_length,
                                             bool* has_attend) {
  ASSIGN_OR_RETURN(Json j, ParseJsonFile(path));
  const char* key = "";
  try {
    if (!j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": expected a JSON object"));
    }
    if (Has(j, key = "query_prefix")) {
      s->query_prefix = j[key].get<std::string>();
      *has_query_prefix = true;
    }
    if (Has(j, key = "document_prefix")) {
      s->document_prefix = j[key].get<std::string>();
      *has_document_prefix = true;
    }
    if (Has(j, key = "query_length")) {
      s->query_length = JsonInteger<int>(j[key]);
      *has_query_length = true;
    }
    if (Has(j, key = "document_length")) {
      s->document_length = JsonInteger<int>(j[key]);
      *has_document_length = true;
    }
    if (Has(j, key = "attend_to_expansion_tokens")) {
      s->attend_to_expansion_tokens = j[key].get<bool>();
      *has_attend = true;
    }
    if (Has(j, key = "do_query_expansion")) s->do_query_expansion = j[key].get<bool>();
    if (Has(j, key = "skiplist_words")) {
      s->skiplist_words = j[key].get<std::vector<std::string>>();
    }
    if (Has(j, key = "prompts")) {
      s->prompts = j[key].get<std::map<std::string, std::string>>();
    }
    if (Has(j, key = "default_prompt_name")) {
      s->default_prompt_name = j[key].get<std::string>();
    }
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bad value for \"", key, "\": ", e.what()));
  }
  return absl::OkStatus();
}

// Stanford ColBERT's artifact.metadata: fills only what config_sentence_transformers.json did
// not set (PyLate reads the metadata after the sentence-transformers config).
absl::Status ApplyArtifactMetadata(const std::string& path, ColbertSettings* s,
                                   bool has_query_prefix, bool has_document_prefix,
                                   bool has_query_length, bool has_document_length,
                                   bool has_attend) {
  ASSIGN_OR_RETURN(Json j, ParseJsonFile(path));
  const char* key = "";
  try {
    if (!j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": expected a JSON object"));
    }
    if (!has_query_prefix) {
      s->query_prefix =
          Has(j, key = "query_token_id") ? j[key].get<std::string>() : std::string("[unused0]");
    }
    if (!has_document_prefix) {
      s->document_prefix =
          Has(j, key = "doc_token_id") ? j[key].get<std::string>() : std::string("[unused1]");
    }
    if (!has_query_length && Has(j, key = "query_maxlen"))
      s->query_length = JsonInteger<int>(j[key]);
    if (!has_document_length && Has(j, key = "doc_maxlen")) {
      s->document_length = JsonInteger<int>(j[key]);
    }
    if (!has_attend && Has(j, key = "attend_to_mask_tokens")) {
      s->attend_to_expansion_tokens = j[key].get<bool>();
    }
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bad value for \"", key, "\": ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status ReadLowerCase(const std::string& path, ColbertSettings* s) {
  ASSIGN_OR_RETURN(Json j, ParseJsonFile(path));
  try {
    if (!j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": expected a JSON object"));
    }
    if (Has(j, "do_lower_case")) s->do_lower_case = j["do_lower_case"].get<bool>();
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bad value for \"do_lower_case\": ", e.what()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadArchitecture(const std::string& path) {
  ASSIGN_OR_RETURN(Json j, ParseJsonFile(path));
  try {
    if (!j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": expected a JSON object"));
    }
    if (Has(j, "architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
        j["architectures"][0].is_string()) {
      return j["architectures"][0].get<std::string>();
    }
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
  return std::string();
}

}  // namespace

std::vector<std::string> DefaultSkiplistWords() {
  const std::string punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  std::vector<std::string> words;
  for (char c : punctuation) words.emplace_back(1, c);
  return words;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (name.empty()) return dir;
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return buffer.str();
}

absl::StatusOr<ModelFolder> ReadModelFolder(const std::string& dir) {
  if (!IsDirectory(dir)) {
    return absl::NotFoundError(absl::StrCat(dir, ": model folder not found"));
  }
  ModelFolder folder;
  folder.dir = dir;
  folder.backbone_dir = dir;

  const std::string modules_path = JoinPath(dir, "modules.json");
  const bool has_modules = FileExists(modules_path);
  if (has_modules) {
    ASSIGN_OR_RETURN(std::vector<ModuleEntry> modules, ReadModules(modules_path));
    bool found_transformer = false;
    for (const ModuleEntry& m : modules) {
      // A module lives inside the model folder: no absolute path, no ".." component.
      const bool escapes = !m.path.empty() && m.path[0] == '/';
      bool dotdot = false;
      for (absl::string_view part : absl::StrSplit(m.path, '/')) dotdot |= part == "..";
      if (escapes || dotdot) {
        return absl::InvalidArgumentError(
            absl::StrCat(modules_path, ": module path \"", m.path, "\" leaves the model folder"));
      }
      const std::string module_dir = JoinPath(dir, m.path);
      if (IsTransformerType(m.type)) {
        if (found_transformer) {
          return absl::InvalidArgumentError(
              absl::StrCat(modules_path, ": more than one Transformer module"));
        }
        found_transformer = true;
        folder.backbone_dir = module_dir;
      } else if (IsDenseType(m.type)) {
        if (!IsDirectory(module_dir)) {
          return absl::NotFoundError(absl::StrCat(module_dir, ": Dense module folder listed in ",
                                                  modules_path, " is missing"));
        }
        folder.dense_dirs.push_back(module_dir);
      }
      // Every other module type (Pooling, Normalize, ...) is dropped, as PyLate does.
    }
    if (!found_transformer) {
      return absl::InvalidArgumentError(
          absl::StrCat(modules_path, ": no sentence_transformers.models.Transformer module"));
    }
  }

  const std::string config_path = JoinPath(folder.backbone_dir, "config.json");
  if (!FileExists(config_path)) {
    return absl::NotFoundError(absl::StrCat(config_path, ": backbone config.json not found"));
  }
  ASSIGN_OR_RETURN(folder.backbone_architecture, ReadArchitecture(config_path));
  const bool stanford = folder.backbone_architecture == "HF_ColBERT";
  if (!has_modules && !stanford) {
    return absl::NotFoundError(absl::StrCat(
        modules_path,
        ": not found (not a PyLate / sentence-transformers folder, and config.json is not a "
        "Stanford HF_ColBERT checkpoint)"));
  }
  if (folder.dense_dirs.empty()) {
    if (!stanford) {
      return absl::InvalidArgumentError(
          absl::StrCat(modules_path,
                       ": no Dense module (PyLate would add a randomly initialised "
                       "projection; refusing to serve it)"));
    }
    folder.stanford_projection = true;
  }

  ColbertSettings& s = folder.settings;
  s.skiplist_words = DefaultSkiplistWords();
  bool has_query_prefix = false, has_document_prefix = false, has_query_length = false,
       has_document_length = false, has_attend = false;
  const std::string st_config = JoinPath(dir, "config_sentence_transformers.json");
  if (FileExists(st_config)) {
    RETURN_IF_ERROR(ApplySentenceTransformersConfig(st_config, &s, &has_query_prefix,
                                                    &has_document_prefix, &has_query_length,
                                                    &has_document_length, &has_attend));
  }
  if (folder.stanford_projection) {
    const std::string metadata = JoinPath(dir, "artifact.metadata");
    if (FileExists(metadata)) {
      RETURN_IF_ERROR(ApplyArtifactMetadata(metadata, &s, has_query_prefix, has_document_prefix,
                                            has_query_length, has_document_length, has_attend));
    } else {
      if (!has_query_prefix) s.query_prefix = "[unused0]";
      if (!has_document_prefix) s.document_prefix = "[unused1]";
    }
  }
  if (!s.do_query_expansion) s.attend_to_expansion_tokens = false;

  const std::string sbert_config = JoinPath(folder.backbone_dir, "sentence_bert_config.json");
  if (FileExists(sbert_config)) RETURN_IF_ERROR(ReadLowerCase(sbert_config, &s));

  const std::string where = FileExists(st_config) ? st_config : dir;
  const int min_query = s.query_prefix.empty() ? 2 : 3;
  const int min_document = s.document_prefix.empty() ? 2 : 3;
  if (s.query_length < min_query) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": query_length ", s.query_length,
                                                   " leaves no room for text (minimum ", min_query,
                                                   ")"));
  }
  if (s.document_length < min_document) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": document_length ", s.document_length,
                                                   " leaves no room for text (minimum ",
                                                   min_document, ")"));
  }
  if (s.default_prompt_name && !s.prompts.contains(*s.default_prompt_name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": default_prompt_name \"", *s.default_prompt_name, "\" is not in \"prompts\""));
  }
  return folder;
}

}  // namespace tartan::encoder
