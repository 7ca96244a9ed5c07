#include "nets/registry.h"

#include "engine/error.h"

namespace branchy {

const std::vector<NetworkEntry>& network_catalogue() {
  static const std::vector<NetworkEntry> catalogue = {
      {"lenet", "LeNet: the trunk of BranchyNet's B-LeNet, no branch", build_lenet},
      {"b-lenet", "BranchyNet's B-LeNet: one branch after the first conv", build_b_lenet},
      {"b-alexnet", "BranchyNet's B-AlexNet: branches after conv2 and conv3", build_b_alexnet},
      {"b-resnet", "CIFAR ResNet (depth 6n+2): branches after the stem and stage 1", build_b_resnet},
      {"b-resnext", "ResNeXt-29 style (depth 9n+2): branches after the stem and stage 1", build_b_resnext},
      {"b-densenet", "DenseNet-BC: branches after the first and second transitions", build_b_densenet},
  };
  return catalogue;
}

std::unique_ptr<BranchyNet> build_network(const std::string& name, const Json& overrides,
                                          const Shape& sample_shape, int classes, uint64_t seed) {
  Json settings = overrides.is_null() ? Json::object() : overrides;
  settings["channels"] = sample_shape[1];
  settings["height"] = sample_shape[2];
  settings["width"] = sample_shape[3];
  settings["classes"] = classes;
  return rebuild_network(name, settings, seed);
}

std::unique_ptr<BranchyNet> rebuild_network(const std::string& name, const Json& settings, uint64_t seed) {
  for (const NetworkEntry& entry : network_catalogue()) {
    if (name != entry.name) continue;
    NetConfig config(settings);
    Rng rng(seed);
    std::unique_ptr<BranchyNet> net = entry.build(config, rng);
    config.check_all_used(name);
    net->set_config(config.resolved());
    net->validate();
    return net;
  }
  std::string known;
  for (const NetworkEntry& entry : network_catalogue()) known += std::string(known.empty() ? "" : ", ") + entry.name;
  fail("unknown network '", name, "' (known: ", known, ")");
}

}  // namespace branchy
