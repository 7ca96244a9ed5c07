// branchy eval — accuracy, exits, MACs and measured speed of each policy.
#include <cstdio>

#include "bin/commands.h"
#include "bin/common.h"
#include "report/table.h"
#include "pipeline/policy_eval.h"

namespace branchy {

namespace {

std::string percent(double fraction) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f%%", 100.0 * fraction);
  return buffer;
}

std::string fixed(double value, int digits) {
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  return buffer;
}

std::string shares(const std::vector<double>& values) {
  std::string s;
  for (size_t i = 0; i < values.size(); ++i) s += (i ? " / " : "") + fixed(100.0 * values[i], 1);
  return s;
}

}  // namespace

int command_eval(int argc, char** argv) {
  ArgParser args("eval", "Evaluates a model: accuracy, exit shares, MACs and measured latency per policy.");
  args.positional("MODEL", "a .safetensors model");
  args.option("policy", "P,...", "full,branchy", "policies: full (last exit), branchy (entropy thresholds)");
  args.option("thresholds", "T,...", "", "entropy thresholds to use instead of the model's calibrated ones");
  args.option("split", "NAME", "test", "test or validation");
  add_data_options(args, "");
  args.option("batch", "N", "64", "batch size of the throughput pass");
  args.option("latency-samples", "N", "2000", "samples timed one by one (0: all)");
  args.option("repeats", "N", "3", "timing rounds, taking the policies in turn; the fastest pass counts");
  add_thread_option(args);
  args.flag("json", "print the results as one JSON object");
  if (!args.parse(argc, argv)) return 0;
  apply_thread_option(args);
  const std::string path = args.get("MODEL");
  LoadedModel model = load_model(path);
  BranchyNet& net = *model.net;
  const std::string spec = args.given("data") ? args.get("data") : model_dataset_spec(model.info);
  const DatasetSplits data = load_data_from(args, spec);
  const std::string split = args.get("split");
  if (split != "test" && split != "validation") throw UsageError("--split must be test or validation");
  const Dataset& samples = split == "test" ? data.test : data.validation;
  check_data_fits(net, samples, path);

  std::vector<float> thresholds = model.info.thresholds;
  if (args.given("thresholds")) {
    thresholds.clear();
    for (const std::string& t : args.get_list("thresholds")) {
      char* end = nullptr;
      const float value = std::strtof(t.c_str(), &end);
      if (*end != '\0' || !(value >= 0)) throw UsageError("--thresholds wants non-negative numbers, got '" + t + "'");
      thresholds.push_back(value);
    }
    if (static_cast<int>(thresholds.size()) != net.num_exits() - 1)
      throw UsageError(net.name() + " has " + std::to_string(net.num_exits() - 1) + " branches, --thresholds gave " +
                       std::to_string(thresholds.size()));
  }
  std::vector<Policy> policies;
  for (const std::string& name : args.get_list("policy")) {
    if (name == "full") {
      policies.push_back(full_policy(net));
    } else if (name == "branchy") {
      if (net.num_exits() == 1) continue;  // a plain network has no branches
      if (thresholds.empty())
        fail(path, ": no calibrated thresholds; run `branchy calibrate ", path, "` or give --thresholds");
      policies.push_back(branchy_policy(net, thresholds));
    } else {
      throw UsageError("unknown policy '" + name + "' (known: full, branchy)");
    }
  }
  if (policies.empty()) throw UsageError("no policy to evaluate");

  EvalOptions options;
  options.throughput_batch = args.get_int("batch");
  options.latency_samples = args.get_int("latency-samples");
  options.repeats = args.get_int("repeats");
  options.segments_of = &net;
  if (options.throughput_batch < 1 || options.latency_samples < 0 || options.repeats < 1)
    throw UsageError("--batch and --repeats must be >= 1, --latency-samples >= 0");
  const bool json = args.given("json");
  auto status = [&](const std::string& what) {
    if (!json) std::fprintf(stderr, "measuring %s\n", what.c_str());
  };
  const std::vector<PolicyReport> reports = evaluate_policies(
      policies, net.num_exits(), samples, model.info.normalizer ? &*model.info.normalizer : nullptr, options, status);
  const PolicyReport* full = nullptr;
  for (const PolicyReport& r : reports)
    if (r.name == "full") full = &r;

  if (json) {
    Json out = Json::object();
    out["model"] = path;
    out["net"] = net.name();
    out["split"] = split;
    out["samples"] = samples.size();
    out["accuracy"] = reports.front().accuracy;
    Json by_name = Json::object();
    for (const PolicyReport& r : reports) {
      Json j = r.to_json();
      if (full) {
        j["speedup_latency"] = full->latency_us / r.latency_us;
        j["speedup_macs"] = full->mean_macs / r.mean_macs;
        j["speedup_predicted"] = full->predicted_latency_us / r.predicted_latency_us;
      }
      by_name[r.name] = j;
    }
    out["policies"] = by_name;
    std::printf("%s\n", dump_json(out, 2).c_str());
    return 0;
  }
  std::printf("%s (%s) on %s %s: %lld samples\n", path.c_str(), net.name().c_str(), spec.c_str(), split.c_str(),
              static_cast<long long>(samples.size()));
  TextTable table({"policy", "accuracy", "exit share %", "exit accuracy %", "MACs/sample", "latency us (b=1)",
                   "p99 us", "segments us", "img/s (b=" + std::to_string(options.throughput_batch) + ")", "speed-up",
                   "MACs ratio", "segments ratio"});
  for (const PolicyReport& r : reports) {
    std::vector<double> exit_accuracy = r.exit_accuracy;
    table.add_row({r.name, percent(r.accuracy), shares(r.exit_share), shares(exit_accuracy),
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
  return 0;
}

}  // namespace branchy
