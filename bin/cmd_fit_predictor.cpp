// branchy fit-predictor — trains one predictor (the thesis's method) on a
// calibrated model, chooses its knob on held-out samples, and stores it in
// the model file beside the network and any other predictors.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "bin/commands.h"
#include "bin/common.h"
#include "engine/threads.h"
#include "pipeline/predictor_fit.h"
#include "predictors/policy.h"
#include "predictors/predictor_rules.h"
#include "report/csv.h"
#include "report/progress.h"
#include "report/svg_plot.h"
#include "report/table.h"

namespace branchy {

namespace {

PredictorSettings settings_from(const FitPredictorArgs& args) {
  PredictorSettings s;
  try {
    s.kind = parse_predictor_kind(args.kind);
    s.placement = parse_placement(args.placement);
    s.features = FeatureSpec::parse(args.features.value_or(s.placement == Placement::input ? "grid7" : "grid4+max"));
    s.hidden = args.hidden;
    s.cost_weighted = args.cost_weighted;
    s.check();
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  return s;
}

// Runs the network over `data` once, with a progress bar, recording what the predictor needs.
PredictorData collect(BranchyNet& net, const Predictor& predictor, const Dataset& data, const Normalizer* normalizer,
                      const std::string& what) {
  ProgressBar bar("labels: " + what, data.size());
  PredictorData d = collect_predictor_data(net, predictor, data, normalizer, 256,
                                           [&](int64_t done) { bar.update(done); });
  bar.finish();
  return d;
}

std::string shares_text(const std::vector<double>& shares) {
  std::string text;
  for (size_t e = 0; e < shares.size(); ++e) text += (e ? " / " : "") + fixed(100.0 * shares[e], 1);
  return text;
}

// The frontier of a sweep as a table, * at the chosen knob.
void print_frontier(const std::string& title, const KnobChoice& c) {
  std::printf("\n%s (BranchyNet: accuracy %.4f, %s MACs, exits %s %%)\n", title.c_str(), c.branchy.accuracy, format_count(static_cast<int64_t>(c.branchy.mean_macs)).c_str(),
              shares_text(c.branchy.exit_share).c_str());
  TextTable table({"knob", "accuracy", "change", "MACs/sample", "vs branchy MACs", "exit share %", "agreement"});
  for (const KnobSetting& s : c.frontier)
    table.add_row({fixed(s.knob, 2) + (s.knob == c.chosen.knob ? " *" : ""), fixed(s.summary.accuracy, 4),
                   fixed(100.0 * (s.summary.accuracy - c.branchy.accuracy), 2),
                   format_count(static_cast<int64_t>(s.summary.mean_macs)),
                   fixed(s.summary.mean_macs / c.branchy.mean_macs, 3), shares_text(s.summary.exit_share),
                   fixed(s.agreement, 3)});
  std::fputs(table.render().c_str(), stdout);
}

void print_choice(const std::string& policy, const KnobChoice& c, double max_drop) {
  print_frontier(policy + " on held-out samples", c);
  std::printf("chosen knob %g: the cheapest within %.4f of BranchyNet's accuracy (frontier above, * marks it)\n",
              c.chosen.knob, max_drop);
  if (c.point_knobs.empty()) return;
  std::string knobs;
  for (double k : c.point_knobs) knobs += (knobs.empty() ? "" : " ") + fixed(k, 2);
  std::printf("refined, a knob per branch point (%s): accuracy %.4f (%+.2f), %s MACs (%.3f of branchy's)\n",
              knobs.c_str(), c.refined.summary.accuracy, 100.0 * (c.refined.summary.accuracy - c.branchy.accuracy),
              format_count(static_cast<int64_t>(c.refined.summary.mean_macs)).c_str(),
              c.refined.summary.mean_macs / c.branchy.mean_macs);
}

// The choice carried to the test split: its frontier there, and whether the
// knobs chosen on validation keep max_drop.
void print_test_check(const std::string& policy, const KnobChoice& test, double max_drop) {
  print_frontier(policy + " on the test split, the knob as chosen on validation", test);
  const double change = test.refined.summary.accuracy - test.branchy.accuracy;
  const bool kept = change >= -max_drop - 1e-9;
  std::printf("on test the chosen knob%s: accuracy %.4f (%+.2f against BranchyNet), %.3f of its MACs: %s\n",
              test.point_knobs.empty() ? "" : "s per point", test.refined.summary.accuracy, 100.0 * change,
              test.refined.summary.mean_macs / test.branchy.mean_macs,
              kept ? "keeps --max-drop" : ("MISSES --max-drop " + fixed(max_drop, 4) + " (unstable)").c_str());
}

// One sweep's rows: knob, accuracy, MACs, agreement, frontier and choice.
void add_sweep_rows(CsvWriter& csv, const std::string& split, const KnobChoice& c) {
  for (const KnobSetting& s : c.sweep) {
    bool on_frontier = false;
    for (const KnobSetting& f : c.frontier) on_frontier |= f.knob == s.knob;
    csv.row({split, csv_number(s.knob), csv_number(s.summary.accuracy), csv_number(s.summary.mean_macs),
             csv_number(s.agreement), on_frontier ? "1" : "0", s.knob == c.chosen.knob ? "1" : "0"});
  }
  csv.row({split + ":branchy", "", csv_number(c.branchy.accuracy), csv_number(c.branchy.mean_macs), "1", "", ""});
}

void add_sweep_series(SvgPlot& plot, const std::string& split, const KnobChoice& c) {
  std::vector<double> macs, accuracy;
  for (const KnobSetting& s : c.sweep) {
    macs.push_back(s.summary.mean_macs);
    accuracy.push_back(s.summary.accuracy);
  }
  plot.add_series(split, macs, accuracy, SeriesStyle::points);
  plot.add_series("branchy (" + split + ")", {c.branchy.mean_macs}, {c.branchy.accuracy}, SeriesStyle::points);
  plot.add_point_label(c.refined.summary.mean_macs, c.refined.summary.accuracy,
                       "chosen " + fixed(c.chosen.knob, 2) + " (" + split + ")");
}

// fit_<policy>.csv and .svg: the sweep on held-out validation samples and,
// with --test-sweep, on the test split.
void write_sweep(const std::string& out_dir, const std::string& policy, const KnobChoice& c,
                 const KnobChoice* test) {
  std::string file_name = policy;  // "exit-pred@first:trust" -> "exit-pred_first_trust"
  std::replace_if(file_name.begin(), file_name.end(), [](char ch) { return ch == '@' || ch == ':'; }, '_');
  const std::string stem = out_dir + "/fit_" + file_name;
  CsvWriter csv(stem + ".csv", {"split", "knob", "accuracy", "mean_macs", "agreement", "on_frontier", "chosen"});
  add_sweep_rows(csv, "validation", c);
  SvgPlot plot(policy + ": accuracy against mean MACs over its knob", "mean MACs per sample", "accuracy");
  add_sweep_series(plot, "validation", c);
  if (test) {
    add_sweep_rows(csv, "test", *test);
    add_sweep_series(plot, "test", *test);
  }
  plot.save(stem + ".svg");
  std::printf("wrote %s.csv and %s.svg\n", stem.c_str(), stem.c_str());
}

}  // namespace

int command_fit_predictor(const FitPredictorArgs& args) {
  set_num_threads(args.threads);
  const PredictorSettings settings = settings_from(args);
  const std::string& path = args.model_path;
  const std::string out_dir = args.out_dir.value_or(std::filesystem::path(path).parent_path().string());
  if (args.out_dir) check_output_folder(out_dir, "--out");  // the default: the model's folder
  LoadedModel model = load_model(path);
  BranchyNet& net = *model.net;
  if (net.num_exits() < 2) fail(path, ": ", net.name(), " has no branches to predict");
  if (model.info.thresholds.empty())
    fail(path, ": no calibrated thresholds; run `branchy calibrate ", path, "` first");
  const std::vector<float>& thresholds = model.info.thresholds;
  const DatasetSplits data = load_dataset(data_spec_for(args.data, model.info), split_for(args.data, &model.info));
  if (data.validation.size() < 2) throw UsageError("the validation split is too small (see --validation)");
  check_data_fits(net, data.validation, path);
  const Normalizer* normalizer = model.info.normalizer ? &*model.info.normalizer : nullptr;

  Rng rng(args.seed);
  auto predictor = std::make_shared<Predictor>(net, settings, rng);
  // Labels from the training split (default) or from the first half of the
  // validation split; the knob is chosen on validation samples not used to fit.
  const bool from_train = args.labels == "train";
  const int64_t half = data.validation.size() / 2;
  const Dataset fit_set = from_train ? data.train : data.validation.slice(0, half, "validation[0]");
  const Dataset knob_set = from_train ? data.validation
                                      : data.validation.slice(half, data.validation.size(), "validation[1]");
  const PredictorData fit_data = collect(net, *predictor, fit_set, normalizer, fit_set.name);
  const PredictorData knob_data = collect(net, *predictor, knob_set, normalizer, knob_set.name);
  std::optional<PredictorData> test_data;
  if (args.test_sweep) {
    if (data.test.size() == 0) throw UsageError("--test-sweep: the data has no test split");
    test_data = collect(net, *predictor, data.test, normalizer, data.test.name);
  }
  const auto shares_on = [&](const PredictorData& d) {
    return summarize_route(replay_route(net, recorded_run(d.outputs), BranchyRule(net, thresholds)),
                           d.outputs.labels, net.num_exits());
  };
  const RouteSummary on_fit = shares_on(fit_data), on_knob = shares_on(knob_data);
  std::printf("label bias: BranchyNet's exits %s %% on %s (accuracy %.4f) against %s %% on %s (accuracy %.4f)\n",
              shares_text(on_fit.exit_share).c_str(), fit_set.name.c_str(), on_fit.accuracy,
              shares_text(on_knob.exit_share).c_str(), knob_set.name.c_str(), on_knob.accuracy);

  FitOptions options;
  options.epochs = args.epochs;
  options.learning_rate = args.learning_rate;
  options.seed = args.seed;
  options.progress = [&](int point, int epoch, double loss) {
    if (epoch == options.epochs || epoch % 5 == 0)
      std::fprintf(stderr, "%s %s: epoch %d/%d, loss %.4f\n", predictor->name().c_str(),
                   point < 0 ? "input" : ("point " + std::to_string(point)).c_str(), epoch, options.epochs, loss);
  };
  train_predictor(*predictor, net, fit_data, thresholds, options);

  const std::vector<bool> routings = has_trust_choice(settings) ? std::vector<bool>{true, false}
                                                                 : std::vector<bool>{false};
  for (bool trust : routings) {
    const KnobChoice choice = choose_knob(*predictor, net, knob_data, thresholds, trust, args.max_drop);
    const std::string name = predictor_policy(net, *predictor, thresholds, trust).name;
    print_choice(name, choice, args.max_drop);
    std::optional<KnobChoice> on_test;
    if (test_data) {
      on_test = replay_knob_choice(*predictor, net, *test_data, thresholds, trust);
      print_test_check(name, *on_test, args.max_drop);
    }
    write_sweep(out_dir.empty() ? "." : out_dir, name, choice, on_test ? &*on_test : nullptr);
  }
  std::printf("%s costs %s MACs per sample at each point it reads\n", predictor->name().c_str(),
              format_count(predictor->macs(predictor->points().front())).c_str());
  if (!args.dry_run) {
    model.info.replace_predictor(predictor);
    save_model(path, net, model.info);
    std::printf("stored %s in %s (%zu predictors)\n", predictor->name().c_str(), path.c_str(),
                model.info.predictors.size());
  }
  return 0;
}

}  // namespace branchy
