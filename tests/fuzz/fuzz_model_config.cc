// ParseModelConfig on arbitrary config.json text; an accepted config must be usable
// (positive sizes, head_dim defined, one layer kind per layer).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "services/encoder/lib/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  auto config = tartan::encoder::ParseModelConfig(json, "fuzz/config.json");
  if (!config.ok()) {
    return 0;
  }
  if (config->num_heads <= 0 || config->hidden_size <= 0 || config->num_layers <= 0 ||
      config->vocab_size <= 0) {
    std::abort();
  }
  (void)config->head_dim();
  return 0;
}
