// warm_start.h — a network started from another model's weights
// (`branchy train --init MODEL`).
//
// Every parameter (and batch-norm statistic) whose name and shape are the
// same in the model file is copied; the others keep their fresh initial
// values. Used to train a branch of another width on an already trained
// trunk (--frozen-trunk): the stages match and are copied, the new branch
// does not and starts fresh.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nets/branchy_net.h"
#include "pipeline/model_file.h"

namespace branchy {

struct WarmStart {
  std::vector<std::string> copied, fresh;  // parameter names
};

// Copies from `from` (loaded from `path`) into `net` every parameter that
// matches and for which keep_fresh(name) is false. Fails naming the file
// when it holds another network (a different name).
WarmStart warm_start(BranchyNet& net, const LoadedModel& from, const std::string& path,
                     const std::function<bool(const std::string&)>& keep_fresh);

}  // namespace branchy
