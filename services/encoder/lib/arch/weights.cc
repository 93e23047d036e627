#include "services/encoder/lib/arch/weights.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tartan::encoder {

absl::StatusOr<WeightReader> WeightReader::Create(const SafetensorsFile* file,
                                                  const std::string& probe) {
  for (const char* prefix : {"", "model.", "bert."}) {
    if (file->Has(absl::StrCat(prefix, probe))) {
      WeightReader r;
      r.file_ = file;
      r.prefix_ = prefix;
      return r;
    }
  }
  return absl::NotFoundError(absl::StrCat("checkpoint ", file->path(), ": no tensor '", probe,
                                          "' (tried prefixes '', 'model.', 'bert.')"));
}

bool WeightReader::Has(const std::string& name) const {
  return file_->Has(absl::StrCat(prefix_, name));
}

absl::StatusOr<std::vector<float>> WeightReader::Load(const std::string& name,
                                                      const std::vector<int64_t>& shape) const {
  return file_->LoadF32(absl::StrCat(prefix_, name), shape);
}

absl::StatusOr<Linear> WeightReader::LoadLinear(const std::string& base, int out, int in,
                                                bool with_bias) const {
  ASSIGN_OR_RETURN(std::vector<float> w, Load(base + ".weight", {out, in}));
  std::vector<float> b;
  if (with_bias) {
    ASSIGN_OR_RETURN(b, Load(base + ".bias", {out}));
  }
  return Linear(out, in, std::move(w), std::move(b));
}

}  // namespace tartan::encoder
