// net_config.h — the settings a network is built from.
//
// A network builder asks for each setting with its default; NetConfig
// answers from the user's overrides or the default and records every answer,
// so resolved() is the full configuration that rebuilds the same network
// (it goes into checkpoints). Every network gets "channels", "height",
// "width" and "classes" from the dataset.
#pragma once

#include <set>
#include <string>

#include "formats/json.h"
#include "engine/shape.h"

namespace branchy {

// The largest inputs and class counts a network is built for: far beyond the
// datasets branchy reads, and small enough that a setting read from a file
// cannot ask for an absurd network (a model file is untrusted input).
constexpr int max_input_side = 4096;
constexpr int max_input_channels = 64;
constexpr int max_classes = 100000;

class NetConfig {
 public:
  // overrides: a JSON object of setting -> number or string.
  explicit NetConfig(Json overrides);

  int integer(const std::string& key, int fallback);
  double number(const std::string& key, double fallback);
  std::string text(const std::string& key, const std::string& fallback);

  // The dataset's settings: input (1, channels, height, width) and classes.
  Shape sample_shape();
  int classes();

  const Json& resolved() const { return resolved_; }
  // Throws Error naming `network` and any override no builder asked for (a typo).
  void check_all_used(const std::string& network) const;

 private:
  const Json* override_of(const std::string& key);
  Json overrides_;
  Json resolved_ = Json::object();
  std::set<std::string> used_;
};

// Parses "key=value,key=value" (values: numbers or words) into a JSON object.
Json parse_config_overrides(const std::string& text);

}  // namespace branchy
