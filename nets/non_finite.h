// non_finite.h — where a NaN or an infinity first shows up in a network, so
// that a diverged run can say more than "the loss is nan".
//
// all_finite runs on every training step (over the gradients: one read of
// them, cheap beside the forward and backward passes); the descriptions run
// once, after something went wrong.
//
// first_non_finite_param_value / first_non_finite_gradient
//   The first parameter, in the order given, whose value (gradient) holds a
//   NaN or an infinity, described as "stage1.fc2.bias holds nan at element 0";
//   "" when all are finite. Parameters without a gradient are skipped by the
//   gradient scan. To find the gradient that backward spoiled first, pass the
//   parameters in the order backward reaches them: the reverse of
//   BranchyNet::named_params().
// first_non_finite_output
//   Runs x through the network one top-level layer at a time, in the order
//   forward_exits runs them (trunk_only: the stages alone, as forward_final
//   does), and describes the first layer whose output holds a NaN or an
//   infinity: "the output of stage1.fc2 (linear 16->4)"; "the input" when x
//   itself does; "" when every output is finite. Mode::train changes what a
//   training forward changes (batch-norm running statistics, dropout draws).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/param.h"
#include "engine/tensor.h"
#include "nets/branchy_net.h"

namespace branchy {

// A number as messages show it; NaN is "nan" whatever its sign bit (the
// stream would say "-nan" for some, a difference without meaning).
std::string number_for_message(double value);

bool all_finite(const float* values, int64_t count);
inline bool all_finite(const Tensor& tensor) { return all_finite(tensor.data(), tensor.numel()); }

std::string first_non_finite_param_value(const std::vector<ParamRef>& params);
std::string first_non_finite_gradient(const std::vector<ParamRef>& params);
std::string first_non_finite_output(BranchyNet& net, const Tensor& x, Mode mode, bool trunk_only);

}  // namespace branchy
