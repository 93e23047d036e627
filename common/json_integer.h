// Integer fields of JSON files we read (tokenizer.json, config.json, modules.json): nlohmann's
// get<int>() on a float, or on an integer outside the target type, converts with undefined
// behaviour, so a hostile file must be rejected first.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "nlohmann/json.hpp"

namespace tartan {

// v as T when it is a JSON integer within T's range; otherwise throws nlohmann's type_error
// (302), which the readers already turn into an error naming the file.
template <typename T>
T JsonInteger(const nlohmann::json& v) {
  if (!v.is_number_integer()) {
    throw nlohmann::json::type_error::create(
        302, "expected an integer, got " + std::string(v.type_name()), &v);
  }
  bool in_range;
  if (v.is_number_unsigned()) {
    in_range = v.get<uint64_t>() <= uint64_t(std::numeric_limits<T>::max());
  } else {
    const int64_t x = v.get<int64_t>();
    in_range = std::numeric_limits<T>::is_signed
                   ? x >= int64_t(std::numeric_limits<T>::min()) &&
                         x <= int64_t(std::numeric_limits<T>::max())
                   : x >= 0 && uint64_t(x) <= uint64_t(std::numeric_limits<T>::max());
  }
  if (!in_range) {
    throw nlohmann::json::type_error::create(302, "integer out of range: " + v.dump(), &v);
  }
  return v.get<T>();
}

}  // namespace tartan
