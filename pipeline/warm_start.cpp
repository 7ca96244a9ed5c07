#include "pipeline/warm_start.h"

#include <algorithm>

#include "engine/error.h"

namespace branchy {

WarmStart warm_start(BranchyNet& net, const LoadedModel& from, const std::string& path,
                     const std::function<bool(const std::string&)>& keep_fresh) {
  BRANCHY_CHECK(from.net->name() == net.name(), path, ": holds a ", from.net->name(), ", not a ", net.name(),
                "; --init needs a model of the same network");
  WarmStart result;
  for (const ParamRef& ref : net.named_params()) {
    const Tensor* stored = from.checkpoint.find(ref.name);
    if (stored && stored->shape() == ref.param->value.shape() && !keep_fresh(ref.name)) {
      std::copy_n(stored->data(), stored->numel(), ref.param->value.data());
      result.copied.push_back(ref.name);
    } else {
      result.fresh.push_back(ref.name);
    }
  }
  return result;
}

}  // namespace branchy
