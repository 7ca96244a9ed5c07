// cli.cpp — every option of every command, declared once for CLI11, and the
// mapping of outcomes to exit statuses. The only file that includes CLI11
// (its headers are heavy; keep it that way).
#include "bin/cli.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <new>
#include <optional>
#include <type_traits>
#include <thread>

#include "bin/commands.h"
#include "bin/number_list.h"
#include "engine/communicator.h"
#include "nets/registry.h"

namespace branchy {

int max_threads() { return 4 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

namespace {

// ---- value checks ----------------------------------------------------------

// Finite numbers (integers when `integer`) for which accept(value) holds;
// `bounds` says which (">= 0", "[0, 1)") in --help and in the error.
// CLI::Range would let NaN through and print 1.79769e+308 as the top of a
// non-negative number.
CLI::Validator number_check(bool integer, std::function<bool(double)> accept, const std::string& bounds,
                            const std::string& why = "") {
  const std::string wants = (integer ? "wants an integer " : "wants a number ") + bounds + why;
  return CLI::Validator(
      [integer, accept, wants](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = integer ? static_cast<double>(std::strtoll(text.c_str(), &end, 10))
                                     : std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || !std::isfinite(value) || !accept(value))
          return wants + ", got '" + text + "'";
        return "";
      },
      bounds);
}

template <typename T>
struct Unwrapped {
  using type = T;
};
template <typename T>
struct Unwrapped<std::optional<T>> {
  using type = T;
};

// An integer option >= min: a count, a size, a seed.
template <typename Integer>
CLI::Option* add_count(CLI::App* command, const std::string& name, Integer& value, int min, const std::string& help) {
  static_assert(std::is_integral_v<typename Unwrapped<Integer>::type>);
  return command->add_option(name, value, help)
      ->type_name("N")
      ->check(number_check(true, [min](double v) { return v >= min; }, ">= " + std::to_string(min)))
      ->capture_default_str();
}

// A real-valued option.
template <typename Real>
CLI::Option* add_real(CLI::App* command, const std::string& name, Real& value, std::function<bool(double)> accept,
                      const std::string& bounds, const std::string& help) {
  static_assert(std::is_floating_point_v<Real>);
  return command->add_option(name, value, help)
      ->type_name("X")
      ->check(number_check(false, std::move(accept), bounds))
      ->capture_default_str();
}

// ---- shared options --------------------------------------------------------

CLI::Option* add_threads(CLI::App* command, int& threads) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int most = max_threads();
  threads = cores;
  return command->add_option("--threads", threads, "threads to compute with (default: every core)")
      ->type_name("N")
      ->check(number_check(true, [most](double v) { return v >= 1 && v <= most; },
                           "in [1, " + std::to_string(most) + "]",
                           " (at most 4 x " + std::to_string(cores) + " cores)"))
      ->capture_default_str();
}

void add_data(CLI::App* command, DataArgs& data, const std::string& when_unset) {
  command
      ->add_option("--data", data.spec,
                   "dataset: fashion-mnist, DIR or mnist:DIR (idx files), cifar10:DIR, cifar100:DIR, folder:DIR" +
                       when_unset)
      ->type_name("SPEC")
      ->capture_default_str();
  add_count(command, "--validation", data.validation, 0,
            "training samples held out (the last N; default: as the model was trained, 5000 for train)");
  add_count(command, "--limit", data.split.train_limit, 0, "use only the first N training samples (0: all)");
  add_count(command, "--test-limit", data.split.test_limit, 0, "use only the first N test samples (0: all)");
}

// A comma-separated list of numbers >= min_value ("0.5,0.75"), through the
// one list parser; `list` is a std::vector<float> or an optional of one.
template <typename List>
CLI::Option* add_number_list(CLI::App* command, const std::string& name, List& list, float min_value,
                             const std::string& help) {
  auto parse = [&list, name, min_value](const std::string& text) {
    try {
      list = parse_number_list<float>(text, min_value);
    } catch (const UsageError& e) {
      throw CLI::ValidationError(name, e.what());
    }
  };
  return command->add_option_function<std::string>(name, parse, help)->type_name("X,...");
}

CLI::Option* add_model(CLI::App* command, std::string& path, const std::string& help) {
  return command->add_option("MODEL", path, help)->required()->check(CLI::ExistingFile);
}

// ---- the commands ----------------------------------------------------------

std::vector<std::string> network_names() {
  std::vector<std::string> names;
  for (const NetworkEntry& e : network_catalogue()) names.push_back(e.name);
  return names;
}

CLI::App* add_train(CLI::App& app, TrainArgs& a) {
  CLI::App* c = app.add_subcommand("train", "train a network; writes the run folder (model, log, plot)");
  TrainOptions& o = a.options;
  c->add_option("--net", a.net, "network")->check(CLI::IsMember(network_names()))->capture_default_str();
  c->add_option("--config", a.config, "network settings, e.g. depth=20,branch0_width=16 (docs/NETWORKS.md)")
      ->type_name("K=V,...");
  add_data(c, a.data, " (default: fashion-mnist)");
  add_count(c, "--epochs", o.epochs, 0, "joint training epochs");
  add_count(c, "--trunk-epochs", o.trunk_epochs, 0, "epochs training the trunk alone first");
  add_count(c, "--batch", o.batch_size, 1, "batch size");
  c->add_option("--optimizer", o.optimizer, "optimizer")->check(CLI::IsMember({"adam", "sgd"}))->capture_default_str();
  add_real(c, "--lr", o.learning_rate, [](double v) { return v > 0; }, "> 0", "learning rate");
  add_real(c, "--momentum", o.momentum, [](double v) { return v >= 0 && v < 1; }, "in [0, 1)", "sgd momentum");
  c->add_flag("--nesterov", o.nesterov, "sgd with Nesterov momentum");
  add_real(c, "--weight-decay", o.weight_decay, [](double v) { return v >= 0; }, ">= 0", "L2 weight decay");
  c->add_option("--schedule", o.lr_schedule, "lr schedule: constant, step:N:G, multistep:A,B:G, cosine[:MIN]")
      ->type_name("SPEC")
      ->capture_default_str();
  add_number_list(c, "--exit-weights", o.exit_weights, 0.0f, "loss weight of each exit, >= 0 (default 1 each)");
  add_count(c, "--crop", o.augmentation.crop_padding, 0, "random-crop augmentation padding, pixels");
  c->add_flag("--flip", o.augmentation.horizontal_flip, "random horizontal flips");
  add_count(c, "--seed", o.seed, 0, "seed of weights, order and augmentation");
  add_threads(c, a.threads);
  c->add_option("--out", o.out_dir, "run folder (default runs/NET)")->type_name("DIR");
  c->add_flag("--resume", o.resume, "continue from OUT/last.safetensors");
  c->add_option("--init", o.init_from,
                "start from a trained model: parameters of the same name and shape are copied, the rest start "
                "fresh")
      ->check(CLI::ExistingFile)
      ->type_name("MODEL");
  c->add_flag("--frozen-trunk", o.frozen_trunk,
              "train the branches alone (those of non-zero --exit-weights) on the --init model's trunk, which\n"
              "never changes; the trained branches start fresh (a branch of another width on a trained trunk)");
  c->add_flag("--quiet", o.quiet, "no progress bars");
  c->add_flag("--sync-bn", o.sync_batch_norm,
              "under mpirun: batch-norm statistics over the whole batch of every rank (default: each rank's rows)");
  return c;
}

CLI::App* add_eval(CLI::App& app, EvalArgs& a) {
  CLI::App* c = app.add_subcommand("eval", "evaluate a model: accuracy, exit shares, MACs and latency per policy");
  add_model(c, a.model_path, "a .safetensors model");
  c->add_option("--policy", a.policies,
                "policies: full, branchy, oracle, entropy-pred, exit-pred@input|first|each, skip-pred\n"
                "(predictor policies take :trust or :fallback), or all: every one the model has")
      ->delimiter(',')
      ->capture_default_str();
  c->add_option("--trace", a.trace_path, "write every sample's route (.csv, else JSON lines)")->type_name("FILE");
  c->add_option("--plot", a.plot_prefix, "plot files PREFIX_latency.svg, PREFIX_macs.svg (default: beside the model)")
      ->type_name("PREFIX");
  add_number_list(c, "--thresholds", a.thresholds, 0.0f,
                  "entropy thresholds, one per branch, instead of the model's calibrated ones");
  c->add_option("--split", a.split, "dataset split")
      ->check(CLI::IsMember({"test", "validation"}))
      ->capture_default_str();
  add_data(c, a.data, " (default: the model's)");
  a.options.latency_samples = 2000;
  a.options.repeats = 3;
  add_count(c, "--batch", a.options.throughput_batch, 1, "batch size of the throughput pass");
  add_count(c, "--latency-samples", a.options.latency_samples, 0, "samples timed one by one (0: all)");
  add_count(c, "--repeats", a.options.repeats, 1, "timing rounds, taking the policies in turn; the fastest counts");
  add_threads(c, a.threads);
  c->add_flag("--json", a.json, "print the results as one JSON object");
  return c;
}

CLI::App* add_calibrate(CLI::App& app, CalibrateArgs& a) {
  CLI::App* c = app.add_subcommand(
      "calibrate",
      "sweep entropy thresholds on the validation split, write the accuracy/cost frontier\n"
      "(frontier.csv, frontier.svg beside the model) and store the chosen thresholds in the model");
  add_model(c, a.model_path, "a .safetensors model with branches");
  add_number_list(c, "--grid", a.grid, 0.0f,
                  "threshold values tried at every branch (default: BranchyNet's 1e-4 ... 10)");
  add_real(c, "--max-drop", a.max_drop, [](double v) { return v >= 0; }, ">= 0",
           "accuracy (a fraction) the chosen setting may lose against the last exit");
  add_count(c, "--latency-samples", a.latency_samples, 1, "validation samples timed one by one per frontier point");
  c->add_option("--out", a.out_dir, "where the frontier files go (default: the model's folder)")->type_name("DIR");
  add_data(c, a.data, " (default: the model's)");
  add_threads(c, a.threads);
  c->add_flag("--dry-run", a.dry_run, "do not store the thresholds in the model");
  return c;
}

CLI::App* add_infer(CLI::App& app, InferArgs& a) {
  CLI::App* c = app.add_subcommand("infer", "classify one image file, or one dataset sample; print probabilities");
  add_model(c, a.model_path, "a .safetensors model");
  CLI::Option* image = c->add_option("--image", a.image_path, "a PNG/JPEG/BMP/PGM file of the model's size")
                           ->type_name("FILE")
                           ->check(CLI::ExistingFile);
  CLI::Option* index = add_count(c, "--index", a.index, 0, "a sample of the dataset's test split instead of --image");
  image->excludes(index);
  c->add_option("--policy", a.policy, "how to route it, as in eval (default: branchy when calibrated, else full)");
  c->add_flag("--trace", a.trace, "print the route as one JSON line (as eval --trace writes)");
  add_data(c, a.data, " (default: the model's)");
  add_threads(c, a.threads);
  c->add_flag("--json", a.json, "print the route, the answer and its probabilities as one JSON object");
  return c;
}

CLI::App* add_fit_predictor(CLI::App& app, FitPredictorArgs& a) {
  CLI::App* c = app.add_subcommand(
      "fit-predictor",
      "train a predictor of the exit (the thesis's method) on a calibrated model, choose its knob\n"
      "on held-out samples and store it in the model beside any others");
  add_model(c, a.model_path, "a calibrated .safetensors model");
  c->add_option("--kind", a.kind, "entropy (regress each branch's entropy), exit (classify the exit),\n"
                                  "skip (is each branch worth trying)")
      ->required()
      ->check(CLI::IsMember({"entropy", "exit", "skip"}));
  c->add_option("--placement", a.placement, "input (the image), first (the first branch point) or each\n"
                                            "(every branch point; entropy and skip sit only there)")
      ->check(CLI::IsMember({"input", "first", "each"}))
      ->capture_default_str();
  c->add_option("--features", a.features, "map summaries: avg, max, gridG, joined by + (default grid4+max,\n"
                                          "grid7 on the input)");
  add_count(c, "--hidden", a.hidden, 1, "hidden units of the predictor network");
  c->add_flag("--cost-weighted", a.cost_weighted,
              "weight each training sample by what a wrong decision on it costs in MACs\n"
              "(exit and skip at each point; pipeline/predictor_fit.h)");
  add_real(c, "--max-drop", a.max_drop, [](double v) { return v >= 0; }, ">= 0",
           "accuracy (a fraction) the chosen knob may lose against BranchyNet");
  c->add_option("--labels", a.labels, "split that labels the training: train, or validation (half of it)")
      ->check(CLI::IsMember({"train", "validation"}))
      ->capture_default_str();
  add_count(c, "--epochs", a.epochs, 1, "training epochs of each predictor head");
  add_real(c, "--lr", a.learning_rate, [](double v) { return v > 0; }, "> 0", "Adam learning rate");
  add_count(c, "--seed", a.seed, 0, "seed of the predictor's weights and batch order");
  c->add_option("--out", a.out_dir, "where the sweep files go (default: the model's folder)")->type_name("DIR");
  c->add_flag("--test-sweep", a.test_sweep,
              "also sweep the knob on the test split and report whether the chosen knob\n"
              "keeps --max-drop there (the choice itself is made on validation only)");
  add_data(c, a.data, " (default: the model's)");
  add_threads(c, a.threads);
  c->add_flag("--dry-run", a.dry_run, "do not store the predictor in the model");
  return c;
}

CLI::App* add_info(CLI::App& app, InfoArgs& a) {
  CLI::App* c = app.add_subcommand("info", "print a model's network, settings, parameters and MACs per layer");
  add_model(c, a.model_path, "a .safetensors file written by branchy train");
  add_count(c, "--time", a.time_calls, 0, "also time every layer at batch 1: N forward calls each (0: no)");
  add_threads(c, a.threads);
  return c;
}

// ---- errors ----------------------------------------------------------------

// One line for a parse error. CLI11 checks required arguments before it
// reports unknown ones; an unknown option is the more useful thing to name.
std::string usage_message(const CLI::ParseError& e, const CLI::App& command, bool is_root) {
  const std::vector<std::string> unknown = command.remaining();
  const bool required = dynamic_cast<const CLI::RequiredError*>(&e) != nullptr;
  const bool extras = required || dynamic_cast<const CLI::ExtrasError*>(&e);
  const std::string what = e.what();
  if (required && is_root && unknown.empty()) return "no command given";
  // CLI11 says "--threads: 1 required N:[1, 8] missing".
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) && what.find(" missing") != std::string::npos)
    return what.substr(0, what.find(':')) + " needs a value";
  if (!extras || unknown.empty()) return what;
  const std::string& first = unknown.front();
  if (first.rfind("-", 0) == 0) return "unknown option " + first;
  return (is_root ? "unknown command '" : "unexpected argument '") + first + "'";
}

// "branchy train", or "branchy train (rank 1 of 4)" in a job of several processes.
std::string command_title(const char* name) {
  std::string title = std::string("branchy ") + name;
  const Communicator* group = started_world();
  if (group && group->size() > 1)
    title += " (rank " + std::to_string(group->rank()) + " of " + std::to_string(group->size()) + ")";
  return title;
}

// The failure's one line, then, in a job of several processes, the end of
// every rank: the others would otherwise wait for this one forever.
int fail_command(const char* name, int status, const std::string& message, std::FILE* err) {
  std::fprintf(err, "%s: %s\n", command_title(name).c_str(), message.c_str());
  std::fflush(err);
  abort_job_if_distributed(status);
  return status;
}

// Runs a command, mapping what it throws to an exit status.
template <typename Args>
int run(const char* name, int (*command)(const Args&), const Args& args, std::FILE* err) {
  try {
    return command(args);
  } catch (const UsageError& e) {
    return fail_command(name, 2, std::string(e.what()) + " (see: branchy " + name + " --help)", err);
  } catch (const std::bad_alloc&) {
    return fail_command(name, 1, "error: out of memory", err);
  } catch (const std::exception& e) {
    return fail_command(name, 1, std::string("error: ") + e.what(), err);
  }
}

}  // namespace

namespace {

// Parses argv and, when `run` is set, runs the chosen command; without it, a
// command line that parses returns 0 having run nothing (for the fuzzer).
int parse_command_line(int argc, const char* const* argv, std::FILE* out, std::FILE* err, bool run_it) {
  CLI::App app("early-exit (branchy) networks: train, calibrate, evaluate, run", "branchy");
  app.footer("branchy COMMAND --help lists a command's options.");
  app.require_subcommand(1);
  app.get_formatter()->column_width(34);
  // A repeated option keeps its last value, as before CLI11.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  TrainArgs train;
  EvalArgs eval;
  CalibrateArgs calibrate;
  InferArgs infer;
  InfoArgs info;
  FitPredictorArgs fit;
  CLI::App* train_command = add_train(app, train);
  CLI::App* eval_command = add_eval(app, eval);
  CLI::App* calibrate_command = add_calibrate(app, calibrate);
  CLI::App* infer_command = add_infer(app, infer);
  CLI::App* info_command = add_info(app, info);
  CLI::App* fit_command = add_fit_predictor(app, fit);

  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "help") args[0] = "--help";
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    const std::vector<CLI::App*> chosen = app.get_subcommands();
    const CLI::App& command = chosen.empty() ? app : *chosen.front();
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      std::fputs(app.help().c_str(), out);
      return 0;
    }
    const std::string name = chosen.empty() ? "branchy" : "branchy " + command.get_name();
    std::fprintf(err, "%s: %s (see: %s --help)\n", name.c_str(), usage_message(e, command, chosen.empty()).c_str(),
                 name.c_str());
    return 2;
  }
  if (!run_it) return 0;
  if (train_command->parsed()) return run("train", command_train, train, err);
  if (eval_command->parsed()) return run("eval", command_eval, eval, err);
  if (calibrate_command->parsed()) return run("calibrate", command_calibrate, calibrate, err);
  if (infer_command->parsed()) return run("infer", command_infer, infer, err);
  if (info_command->parsed()) return run("info", command_info, info, err);
  if (fit_command->parsed()) return run("fit-predictor", command_fit_predictor, fit, err);
  std::fprintf(err, "branchy: no command (see: branchy --help)\n");
  return 2;
}

}  // namespace

int run_command_line(int argc, const char* const* argv, std::FILE* out, std::FILE* err) {
  return parse_command_line(argc, argv, out, err, true);
}

int check_command_line(int argc, const char* const* argv, std::FILE* out, std::FILE* err) {
  return parse_command_line(argc, argv, out, err, false);
}

}  // namespace branchy
