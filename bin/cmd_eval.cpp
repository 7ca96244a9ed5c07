// branchy eval — accuracy, exits, MACs and measured speed of each policy.
#include <cstdio>

#include "bin/commands.h"
#include "bin/common.h"
#include "engine/threads.h"
#include "report/table.h"
#include "pipeline/policy_eval.h"

namespace branchy {

namespace {

std::string percent(double fraction) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f%%", 100.0 * fraction);
  return buffer;
}

std::string shares(const std::vector<double>& values) {
  std::string s;
  for (size_t i = 0; i < values.size(); ++i) s += (i ? " / " : "") + fixed(100.0 * values[i], 1);
  return s;
}

// The thresholds the branchy policy uses: --thresholds, or the model's calibrated ones.
std::vector<float> thresholds_for(const EvalArgs& args, const BranchyNet& net, const ModelInfo& info) {
  if (!args.thresholds) return info.thresholds;
  const std::vector<float>& given = *args.thresholds;
  if (static_cast<int>(given.size()) != net.num_exits() - 1)
    throw UsageError(net.name() + " has " + std::to_string(net.num_exits() - 1) + " branches, --thresholds gave " +
                     std::to_string(given.size()));
  return given;
}

std::vector<Policy> policies_for(const EvalArgs& args, BranchyNet& net, const ModelInfo& info) {
  const std::vector<float> thresholds = thresholds_for(args, net, info);
  std::vector<Policy> policies;
  for (const std::string& name : args.policies) {
    if (name == "full") {
      policies.push_back(full_policy(net));
    } else {  // "branchy"; the command line admits no other
      if (net.num_exits() == 1) continue;  // a plain network has no branches
      if (thresholds.empty())
        fail(args.model_path, ": no calibrated thresholds; run `branchy calibrate ", args.model_path,
             "` or give --thresholds");
      policies.push_back(branchy_policy(net, thresholds));
    }
  }
  if (policies.empty()) throw UsageError("no policy to evaluate");
  return policies;
}

const PolicyReport* find_full(const std::vector<PolicyReport>& reports) {
  for (const PolicyReport& r : reports)
    if (r.name == "full") return &r;
  return nullptr;
}

void print_json(const EvalArgs& args, const BranchyNet& net, int64_t samples,
                const std::vector<PolicyReport>& reports) {
  const PolicyReport* full = find_full(reports);
  Json out = Json::object();
  out.set("model", args.model_path);
  out.set("net", net.name());
  out.set("split", args.split);
  out.set("samples", samples);
  out.set("accuracy", reports.front().accuracy);
  Json by_name = Json::object();
  for (const PolicyReport& r : reports) {
    Json j = r.to_json();
    if (full) {
      j.set("speedup_latency", full->latency_us / r.latency_us);
      j.set("speedup_macs", full->mean_macs / r.mean_macs);
      j.set("speedup_predicted", full->predicted_latency_us / r.predicted_latency_us);
    }
    by_name.set(r.name, j);
  }
  out.set("policies", by_name);
  std::printf("%s\n", out.dump(2).c_str());
}

void print_table(const EvalArgs& args, const std::vector<PolicyReport>& reports) {
  const PolicyReport* full = find_full(reports);
  TextTable table({"policy", "accuracy", "exit share %", "exit accuracy %", "MACs/sample", "latency us (b=1)",
                   "p99 us", "segments us", "img/s (b=" + std::to_string(args.options.throughput_batch) + ")",
                   "speed-up", "MACs ratio", "segments ratio"});
  for (const PolicyReport& r : reports) {
    table.add_row({r.name, percent(r.accuracy), shares(r.exit_share), shares(r.exit_accuracy),
                   format_count(static_cast<int64_t>(r.mean_macs)), fixed(r.latency_us, 1), fixed(r.latency_p99_us, 1),
                   fixed(r.predicted_latency_us, 1), fixed(r.throughput, 0),
                   full ? fixed(full->latency_us / r.latency_us, 2) + "x" : "-",
                   full ? fixed(full->mean_macs / r.mean_macs, 2) + "x" : "-",
                   full ? fixed(full->predicted_latency_us / r.predicted_latency_us, 2) + "x" : "-"});
  }
  std::fputs(table.render().c_str(), stdout);
  std::printf(
      "speed-up: measured latency of full / policy (batch 1). MACs ratio: what multiply-adds predict.\n"
      "segments us: the latency the stages and branches, each timed alone, predict for the policy's exits;\n"
      "latency above it is the early-exit machinery's own cost (entropy, decisions, regrouping).\n");
}

}  // namespace

int command_eval(const EvalArgs& args) {
  set_num_threads(args.threads);
  LoadedModel model = load_model(args.model_path);
  BranchyNet& net = *model.net;
  const std::string spec = data_spec_for(args.data, model.info);
  const DatasetSplits data = load_dataset(spec, args.data.split);
  const Dataset& samples = args.split == "test" ? data.test : data.validation;
  check_data_fits(net, samples, args.model_path);
  const std::vector<Policy> policies = policies_for(args, net, model.info);

  EvalOptions options = args.options;
  options.segments_of = &net;
  auto status = [&](const std::string& what) {
    if (!args.json) std::fprintf(stderr, "measuring %s\n", what.c_str());
  };
  const std::vector<PolicyReport> reports = evaluate_policies(
      policies, net.num_exits(), samples, model.info.normalizer ? &*model.info.normalizer : nullptr, options, status);
  if (args.json) {
    print_json(args, net, samples.size(), reports);
    return 0;
  }
  std::printf("%s (%s) on %s %s: %lld samples\n", args.model_path.c_str(), net.name().c_str(), spec.c_str(),
              args.split.c_str(), static_cast<long long>(samples.size()));
  print_table(args, reports);
  return 0;
}

}  // namespace branchy
