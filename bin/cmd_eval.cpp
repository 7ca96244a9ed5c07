// branchy eval — every policy's accuracy, exits, MACs and measured speed, side by side.
// Under mpirun the ranks share the untimed pass; rank 0 times, writes and
// prints (pipeline/policy_eval.h).
#include <cstdio>
#include <filesystem>

#include "bin/commands.h"
#include "bin/common.h"
#include "engine/communicator.h"
#include "engine/threads.h"
#include "pipeline/policy_comparison.h"
#include "pipeline/policy_eval.h"
#include "pipeline/route_trace.h"
#include "report/table.h"

namespace branchy {

namespace {

// The thresholds the branch policies use: --thresholds, or the model's calibrated ones.
std::vector<float> thresholds_for(const EvalArgs& args, const BranchyNet& net, const ModelInfo& info) {
  if (!args.thresholds) return info.thresholds;
  const std::vector<float>& given = *args.thresholds;
  if (static_cast<int>(given.size()) != net.num_exits() - 1)
    throw UsageError(net.name() + " has " + std::to_string(net.num_exits() - 1) + " branches, --thresholds gave " +
                     std::to_string(given.size()));
  return given;
}

std::vector<Policy> policies_for(const EvalArgs& args, BranchyNet& net, const ModelInfo& info,
                                 const std::vector<float>& thresholds) {
  try {
    return policies_by_name(args.policies, net, thresholds, info.predictor_pointers());
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

void print_json(const EvalArgs& args, const BranchyNet& net, int64_t samples, const Comparison& comparison) {
  const PolicyReport* full = nullptr;
  for (const PolicyComparison& p : comparison.policies)
    if (p.report->name == "full") full = p.report;
  Json out = Json::object();
  out["model"] = args.model_path;
  out["net"] = net.name();
  out["split"] = args.split;
  out["samples"] = samples;
  out["accuracy"] = comparison.policies.front().report->accuracy;
  if (comparison.has_oracle) {
    out["headroom_macs"] = comparison.headroom_macs;
    out["headroom_share"] = comparison.headroom_share;
  }
  Json by_name = Json::object();
  for (const PolicyComparison& p : comparison.policies) {
    const PolicyReport& r = *p.report;
    Json j = r.to_json();
    if (full) {
      j["speedup_latency"] = full->latency_us / r.latency_us;
      j["speedup_macs"] = full->mean_macs / r.mean_macs;
      j["speedup_predicted"] = full->predicted_latency_us / r.predicted_latency_us;
    }
    if (comparison.has_branchy) {
      j["accuracy_change"] = p.accuracy_change;
      j["agreement"] = p.agreement;
      if (r.knob_choice) j["misses_max_drop"] = p.misses_max_drop;
    }
    if (r.knob_choice) {
      j["max_drop"] = r.knob_choice->max_drop;
      j["held_out_change"] = r.knob_choice->held_out_change;
    }
    if (comparison.has_oracle) j["headroom_captured"] = p.headroom_captured;
    by_name[r.name] = j;
  }
  out["policies"] = by_name;
  std::printf("%s\n", dump_json(out, 2).c_str());
}

void print_table(const EvalArgs& args, const Comparison& comparison) {
  std::fputs(comparison_table(comparison, args.options.throughput_batch).c_str(), stdout);
  std::printf(
      "vs branchy: accuracy change in points. headroom: share of the oracle's saving over branchy (%s MACs,\n"
      "%.1f%% of branchy's) this policy captures. agree: share of samples at branchy's exit.\n"
      "latency: batch 1; segments: what the stages and branches each sample ran, timed alone, predict;\n"
      "latency above it is the routing's own cost (entropy, predictors, regrouping).\n"
      "!: a predictor policy that loses more against branchy than the max drop its knob was chosen for.\n",
      comparison.has_oracle ? format_count(static_cast<int64_t>(comparison.headroom_macs)).c_str() : "-",
      100.0 * comparison.headroom_share);
}

}  // namespace

int command_eval(const EvalArgs& args) {
  set_num_threads(args.threads);
  const std::string prefix =
      args.plot_prefix.value_or((std::filesystem::path(args.model_path).parent_path() / ("eval_" + args.split)).string());
  if (args.plot_prefix) check_output_file(prefix, "--plot");  // the default: beside the model, checked by loading it
  if (args.trace_path) check_output_file(*args.trace_path, "--trace");
  LoadedModel model = load_model(args.model_path);
  BranchyNet& net = *model.net;
  const std::vector<float> thresholds = thresholds_for(args, net, model.info);
  const std::vector<Policy> policies = policies_for(args, net, model.info, thresholds);
  const std::string spec = data_spec_for(args.data, model.info);
  const DatasetSplits data = load_dataset(spec, split_for(args.data, &model.info));
  const Dataset& samples = args.split == "test" ? data.test : data.validation;
  check_data_fits(net, samples, args.model_path);
  const Normalizer* normalizer = model.info.normalizer ? &*model.info.normalizer : nullptr;

  Communicator& group = world();
  EvalOptions options = args.options;
  options.segments_of = &net;
  options.group = &group;
  auto status = [&](const std::string& what) {
    if (!args.json && group.is_root()) std::fprintf(stderr, "measuring %s\n", what.c_str());
  };
  const std::vector<PolicyReport> reports =
      evaluate_policies(policies, net.num_exits(), samples, normalizer, options, status);
  if (!group.is_root()) return 0;
  const Comparison comparison = compare_policies(reports);
  write_comparison_plots(comparison, net.name() + " on " + args.split, prefix + "_latency.svg", prefix + "_macs.svg");
  if (args.trace_path) write_route_traces(*args.trace_path, policies, samples, normalizer, thresholds);
  if (args.json) {
    print_json(args, net, samples.size(), comparison);
    return 0;
  }
  std::printf("%s (%s) on %s %s: %lld samples\n", args.model_path.c_str(), net.name().c_str(), spec.c_str(),
              args.split.c_str(), static_cast<long long>(samples.size()));
  print_table(args, comparison);
  std::printf("plots: %s_latency.svg, %s_macs.svg\n", prefix.c_str(), prefix.c_str());
  if (args.trace_path) std::printf("trace: %s\n", args.trace_path->c_str());
  return 0;
}

}  // namespace branchy
