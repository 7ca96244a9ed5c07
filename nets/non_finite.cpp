#include "nets/non_finite.h"

#include <cmath>
#include <sstream>

namespace branchy {

namespace {

// "stage1.fc2.bias holds nan at element 0"; the tensor holds a non-finite value.
std::string describe_first_non_finite(const std::string& name, const Tensor& tensor) {
  int64_t i = 0;
  while (std::isfinite(tensor[i])) ++i;
  return name + " holds " + number_for_message(tensor[i]) + " at element " + std::to_string(i);
}

// Runs x through `sequence` one layer at a time and describes the first layer
// whose output is not finite ("" when none). x becomes the sequence's output.
std::string first_non_finite_in(Sequential& sequence, const std::string& prefix, Tensor& x, Mode mode) {
  for (size_t i = 0; i < sequence.size(); ++i) {
    x = sequence.layer(i).forward(x, mode);
    if (!all_finite(x))
      return "the output of " + prefix + "." + sequence.layer_name(i) + " (" + sequence.layer(i).describe() + ")";
  }
  return "";
}

}  // namespace

std::string number_for_message(double value) {
  if (std::isnan(value)) return "nan";
  std::ostringstream text;
  text << value;
  return text.str();
}

bool all_finite(const float* values, int64_t count) {
  // No early exit, so that the compiler can vectorise the loop: it runs over
  // every gradient on every training step.
  bool finite = true;
  for (int64_t i = 0; i < count; ++i) finite &= std::isfinite(values[i]);
  return finite;
}

std::string first_non_finite_param_value(const std::vector<ParamRef>& params) {
  for (const ParamRef& ref : params)
    if (!all_finite(ref.param->value)) return describe_first_non_finite(ref.name, ref.param->value);
  return "";
}

std::string first_non_finite_gradient(const std::vector<ParamRef>& params) {
  for (const ParamRef& ref : params)
    if (ref.param->grad.defined() && !all_finite(ref.param->grad))
      return describe_first_non_finite(ref.name, ref.param->grad);
  return "";
}

std::string first_non_finite_output(BranchyNet& net, const Tensor& x, Mode mode, bool trunk_only) {
  if (!all_finite(x)) return "the input";
  Tensor h = x;  // the trunk's feature map, h_i after stage i
  for (int i = 0; i < net.num_stages(); ++i) {
    std::string where = first_non_finite_in(net.stage(i), "stage" + std::to_string(i), h, mode);
    if (!where.empty()) return where;
    if (trunk_only || i == net.num_stages() - 1) continue;
    Tensor branch_values = h;  // branch i reads h_i and leaves it for stage i+1
    where = first_non_finite_in(net.branch(i), "branch" + std::to_string(i), branch_values, mode);
    if (!where.empty()) return where;
  }
  return "";
}

}  // namespace branchy
