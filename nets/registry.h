// registry.h — every network by name, and how to rebuild one from a checkpoint.
//
// build_network(name, overrides, input, classes, seed) builds a network with
// its weights drawn from `seed`; the network's config() then holds every
// setting, so build_network(name, net.config(), ...) rebuilds it exactly.
// Unknown names and unknown settings are Errors listing what exists.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "nets/branchy_net.h"
#include "nets/net_config.h"

namespace branchy {

using NetworkBuilder = std::unique_ptr<BranchyNet> (*)(NetConfig& config, Rng& rng);

struct NetworkEntry {
  const char* name;
  const char* summary;
  NetworkBuilder build;
};

const std::vector<NetworkEntry>& network_catalogue();

// sample_shape (1, C, H, W) and classes come from the dataset and are
// written into the config (they override anything given in `overrides`).
std::unique_ptr<BranchyNet> build_network(const std::string& name, const Json& overrides,
                                          const Shape& sample_shape, int classes, uint64_t seed);

// Rebuilds from a stored name + full config (checkpoint metadata).
std::unique_ptr<BranchyNet> rebuild_network(const std::string& name, const Json& config, uint64_t seed = 1);

// The builders (one file each in nets/).
std::unique_ptr<BranchyNet> build_lenet(NetConfig& config, Rng& rng);
std::unique_ptr<BranchyNet> build_b_lenet(NetConfig& config, Rng& rng);
std::unique_ptr<BranchyNet> build_b_alexnet(NetConfig& config, Rng& rng);
std::unique_ptr<BranchyNet> build_b_resnet(NetConfig& config, Rng& rng);
std::unique_ptr<BranchyNet> build_b_resnext(NetConfig& config, Rng& rng);
std::unique_ptr<BranchyNet> build_b_densenet(NetConfig& config, Rng& rng);

}  // namespace branchy
