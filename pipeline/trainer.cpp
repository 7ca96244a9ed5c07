#include "pipeline/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

#include "formats/atomic_file.h"
#include "report/csv.h"
#include "engine/error.h"
#include "engine/loss.h"
#include "engine/lr_schedule.h"
#include "engine/optimizer.h"
#include "report/progress.h"
#include "report/timer.h"
#include "layers/dropout.h"
#include "nets/non_finite.h"
#include "pipeline/data_parallel.h"
#include "pipeline/exit_outputs.h"
#include "pipeline/gradient_buckets.h"
#include "pipeline/model_file.h"
#include "pipeline/training_plot.h"

namespace branchy {

Json TrainOptions::to_json() const {
  Json j = Json::object();
  j["epochs"] = epochs;
  j["trunk_epochs"] = trunk_epochs;
  j["batch_size"] = batch_size;
  j["optimizer"] = optimizer;
  j["learning_rate"] = static_cast<double>(learning_rate);
  j["momentum"] = static_cast<double>(momentum);
  j["nesterov"] = nesterov;
  j["weight_decay"] = static_cast<double>(weight_decay);
  j["lr_schedule"] = lr_schedule;
  Json weights = Json::array();
  for (float w : exit_weights) weights.push_back(static_cast<double>(w));
  j["exit_weights"] = weights;
  j["crop_padding"] = augmentation.crop_padding;
  j["horizontal_flip"] = augmentation.horizontal_flip;
  j["seed"] = static_cast<int64_t>(seed);
  if (frozen_trunk) j["frozen_trunk"] = true;
  if (!init_from.empty()) j["init_from"] = init_from;
  if (sync_batch_norm) j["sync_batch_norm"] = true;
  if (group && group->size() > 1) {  // what each rank drew its augmentation and dropout from
    j["ranks"] = group->size();
    Json seeds = Json::array();
    for (int r = 0; r < group->size(); ++r) seeds.push_back(rank_seed(seed, r));
    j["rank_seeds"] = seeds;
  }
  return j;
}

namespace {

// What a training epoch runs and changes: the trunk alone (BranchyNet's
// first phase), every exit together, or the branches alone on a frozen trunk.
enum class Phase { trunk, joint, branches };

const char* phase_name(Phase phase) {
  return phase == Phase::trunk ? "trunk" : phase == Phase::joint ? "joint" : "branches";
}

Phase phase_of_epoch(const TrainOptions& options, int epoch) {
  if (options.frozen_trunk) return Phase::branches;
  return epoch <= options.trunk_epochs ? Phase::trunk : Phase::joint;
}

// Which branches the branches phase trains: those of non-zero exit weight.
std::vector<bool> trained_branches(const TrainOptions& options, int exits) {
  std::vector<bool> trained(exits - 1, true);
  for (int i = 0; i < exits - 1 && !options.exit_weights.empty(); ++i) trained[i] = options.exit_weights[i] != 0.0f;
  return trained;
}

// The parameters a phase optimises. The trunk phase: the stages only
// (branches must not decay or collect Adam steps before they are trained);
// the branches phase: the trained branches only.
std::vector<ParamRef> phase_params(BranchyNet& net, Phase phase, const TrainOptions& options) {
  const std::vector<bool> trained = trained_branches(options, net.num_exits());
  std::vector<ParamRef> params;
  for (ParamRef& p : net.named_params()) {
    const bool in_stage = p.name.rfind("stage", 0) == 0;
    if (phase == Phase::joint || (phase == Phase::trunk && in_stage)) params.push_back(p);
    if (phase == Phase::branches && !in_stage) {
      const int branch = std::stoi(p.name.substr(6));  // "branch<i>.<layer>..."
      if (trained[branch]) params.push_back(p);
    }
  }
  return params;
}

std::unique_ptr<Optimizer> make_optimizer(std::vector<ParamRef> params, const TrainOptions& o) {
  if (o.optimizer == "adam") {
    AdamOptions a;
    a.learning_rate = o.learning_rate;
    a.weight_decay = o.weight_decay;
    return std::make_unique<Adam>(std::move(params), a);
  }
  if (o.optimizer == "sgd") {
    SgdOptions s;
    s.learning_rate = o.learning_rate;
    s.momentum = o.momentum;
    s.nesterov = o.nesterov;
    s.weight_decay = o.weight_decay;
    return std::make_unique<Sgd>(std::move(params), s);
  }
  fail("unknown optimizer '", o.optimizer, "' (known: adam, sgd)");
}

// The folder and its parents, unless they exist.
void make_directory(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (path.empty() || fs::is_directory(path, error)) return;
  BRANCHY_CHECK(!fs::exists(path, error), path, ": exists and is not a folder");
  fs::create_directories(path, error);
  BRANCHY_CHECK(!error, path, ": cannot create folder: ", error.message());
}

std::vector<std::string> csv_columns(int exits) {
  std::vector<std::string> columns = {"epoch", "phase", "learning_rate", "train_loss"};
  for (int e = 0; e < exits; ++e) columns.push_back("train_accuracy_exit" + std::to_string(e));
  for (int e = 0; e < exits; ++e) columns.push_back("validation_loss_exit" + std::to_string(e));
  for (int e = 0; e < exits; ++e) columns.push_back("validation_accuracy_exit" + std::to_string(e));
  columns.push_back("seconds");
  columns.push_back("images_per_second");
  return columns;
}

std::vector<std::string> csv_row(const EpochRecord& r) {
  auto number = [](double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.6g", v);
    return std::string(buffer);
  };
  std::vector<std::string> row = {std::to_string(r.epoch), r.phase, number(r.learning_rate), number(r.train_loss)};
  for (double v : r.train_accuracy) row.push_back(number(v));
  for (double v : r.validation_loss) row.push_back(number(v));
  for (double v : r.validation_accuracy) row.push_back(number(v));
  row.push_back(number(r.seconds));
  row.push_back(number(r.images_per_second));
  return row;
}

// Dropout masks depend only on (seed, epoch, layer), so a resumed run draws
// the same masks as an uninterrupted one. Each rank passes its rank_seed().
void reseed_dropout(BranchyNet& net, uint64_t seed, int epoch) {
  uint64_t index = 0;
  for (Layer* layer : net.top_level_layers())
    if (auto* dropout = dynamic_cast<Dropout*>(layer))
      dropout->reseed(seed * 1000003u + static_cast<uint64_t>(epoch) * 7919u + ++index);
}

// Keeps the log's header and the rows of epochs <= completed (a crash
// between the row and the checkpoint, or a torn last row, is dropped).
void trim_log(const std::string& csv_path, int completed, size_t columns) {
  std::ifstream in(csv_path);
  if (!in) return;
  std::string line, kept;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      kept += line + "\n";
      header = false;
      continue;
    }
    const std::vector<std::string> cells = csv_split_line(line);
    if (cells.size() == columns && std::atoi(cells[0].c_str()) <= completed) kept += line + "\n";
  }
  write_file_atomically(csv_path, kept);
}

// Training settings a resumed run must share with the run it continues.
void check_resumable(const Json& stored, const TrainOptions& options, const std::string& path) {
  const Json now = options.to_json();
  for (const char* key : {"trunk_epochs", "batch_size", "optimizer", "learning_rate", "momentum", "nesterov",
                          "weight_decay", "lr_schedule", "exit_weights", "crop_padding", "horizontal_flip", "seed"}) {
    BRANCHY_CHECK(stored.contains(key) && stored.at(key) == now.at(key), path, ": was trained with ", key, " = ",
                  stored.contains(key) ? dump_json(stored.at(key)) : "(missing)", ", this run asks for ",
                  dump_json(now.at(key)), "; resume with the same settings");
  }
  const bool stored_frozen = stored.contains("frozen_trunk") && stored.at("frozen_trunk") == true;
  BRANCHY_CHECK(stored_frozen == options.frozen_trunk, path, ": was trained ",
                stored_frozen ? "with" : "without", " a frozen trunk, this run asks ",
                options.frozen_trunk ? "for one" : "for none", "; resume with the same settings");
}

// "0.9123 0.9456", "-" for an exit not measured (NaN).
std::string accuracy_list(const std::vector<double>& values) {
  std::string s;
  char buffer[32];
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(values[i]))
      std::snprintf(buffer, sizeof buffer, "%s-", i ? " " : "");
    else
      std::snprintf(buffer, sizeof buffer, "%s%.4f", i ? " " : "", values[i]);
    s += buffer;
  }
  return s;
}

void check_train_options(const BranchyNet& net, const DatasetSplits& data, const TrainOptions& options) {
  const int exits = net.num_exits();
  const int total_epochs = options.trunk_epochs + options.epochs;
  BRANCHY_CHECK(options.batch_size >= 1, "batch size must be at least 1, got ", options.batch_size);
  BRANCHY_CHECK(options.epochs >= 0 && options.trunk_epochs >= 0 && total_epochs >= 1, "nothing to train: ",
                options.trunk_epochs, " trunk epochs and ", options.epochs, " joint epochs");
  BRANCHY_CHECK(options.exit_weights.empty() || static_cast<int>(options.exit_weights.size()) == exits,
                net.name(), " has ", exits, " exits but ", options.exit_weights.size(), " exit weights were given");
  if (options.frozen_trunk) {
    BRANCHY_CHECK(options.trunk_epochs == 0, "a frozen trunk trains the branches alone: no trunk epochs (got ",
                  options.trunk_epochs, ")");
    BRANCHY_CHECK(exits > 1, net.name(), " has no branch to train on a frozen trunk");
    bool any = false;
    for (int i = 0; i < exits - 1; ++i) any = any || options.exit_weights.empty() || options.exit_weights[i] != 0.0f;
    BRANCHY_CHECK(any, "a frozen trunk trains the branches, but every branch's exit weight is 0");
  }
  BRANCHY_CHECK(data.train.size() > 0, "the training split is empty");
  BRANCHY_CHECK(data.validation.size() > 0, "the validation split is empty: training needs it to pick the best model");
  const int ranks = options.group ? options.group->size() : 1;
  BRANCHY_CHECK(options.batch_size >= ranks, "batch size ", options.batch_size, " is smaller than the ", ranks,
                " ranks: each rank needs rows of every batch");
  // Synchronised batch norm needs every rank in every forward; a last batch
  // with fewer rows than ranks would leave one out.
  const int64_t last_batch = data.train.size() % options.batch_size;
  BRANCHY_CHECK(!options.sync_batch_norm || last_batch == 0 || last_batch >= ranks, "with --sync-bn each of the ",
                ranks, " ranks needs rows of every batch, but the last batch of an epoch has ", last_batch,
                " (", data.train.size(), " samples, batch ", options.batch_size, "); change --batch or --limit");
}

// Loss weight of each exit: the trunk phase trains the last exit alone, the
// branches phase everything but the last exit.
std::vector<float> exit_loss_weights(const TrainOptions& options, int exits, Phase phase) {
  if (phase == Phase::trunk) {
    std::vector<float> weights(exits, 0.0f);
    weights.back() = 1.0f;
    return weights;
  }
  std::vector<float> weights = options.exit_weights.empty() ? std::vector<float>(exits, 1.0f) : options.exit_weights;
  if (phase == Phase::branches) weights.back() = 0.0f;
  return weights;
}

// The optimizer, the phase whose parameters it steps and, on several ranks,
// the gradient sums of those parameters.
struct PhaseOptimizer {
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<GradientBuckets> buckets;  // null on one process
  Phase phase = Phase::joint;

  void start(BranchyNet& net, Phase new_phase, const TrainOptions& options) {
    optimizer = make_optimizer(phase_params(net, new_phase, options), options);
    phase = new_phase;
    buckets.reset();  // first: its destructor removes the backward hooks the new one installs
    if (options.group && options.group->size() > 1)
      buckets = std::make_unique<GradientBuckets>(net, optimizer->params(), *options.group);
  }
};

// Loads <out_dir>/last.safetensors into the net and into an optimizer of the
// phase it was saved in, trims the log to the epochs it holds, restores the
// best epoch so far, and returns the first epoch still to train.
int resume_from_last_checkpoint(BranchyNet& net, const TrainOptions& options, const std::string& csv_path,
                                PhaseOptimizer& optimizer, TrainResult& result) {
  LoadedModel last = load_model(result.last_path);
  BRANCHY_CHECK(last.net->name() == net.name() && last.net->config() == net.config(), result.last_path,
                ": was trained with network ", last.net->name(), " ", dump_json(last.net->config()),
                ", not the requested ", net.name(), " ", dump_json(net.config()));
  Checkpoint weights;
  for (const NamedTensor& t : last.checkpoint.tensors)
    if (t.name.rfind("optimizer.", 0) != 0) weights.tensors.push_back(t);
  load_params(weights, net.named_params(), result.last_path);
  check_resumable(last.info.training, options, result.last_path);
  const int first_epoch = static_cast<int>(json_int(last.info.training, "epoch")) + 1;
  // The optimizer state in the file belongs to the phase of its last epoch.
  const Phase saved_in = phase_of_epoch(options, first_epoch - 1);
  if (saved_in != optimizer.phase) optimizer.start(net, saved_in, options);
  restore_optimizer(last.checkpoint, *optimizer.optimizer, result.last_path);
  const bool root = !options.group || options.group->is_root();
  if (root) trim_log(csv_path, first_epoch - 1, csv_columns(net.num_exits()).size());
  result.best_epoch = static_cast<int>(json_int(last.info.training, "best_epoch", 0));
  result.best_validation_accuracy = json_double(last.info.training, "best_validation_accuracy", 0.0);
  if (!options.quiet && root)
    std::printf("resuming %s from %s after epoch %d\n", net.name().c_str(), result.last_path.c_str(),
                first_epoch - 1);
  return first_epoch;
}

// Forward in train mode and the weighted loss of one batch. Sets d_logits
// (undefined for exits of weight 0) and adds each exit's right answers to
// `correct`. The trunk phase runs the trunk alone (BranchyNet::forward_final):
// the branches are not run, so their batch-norm statistics stay as they were
// and they count no answers; the branches phase runs the trained branches on
// the frozen trunk (BranchyNet::forward_branches_on_frozen_trunk). share: this rank's rows / the whole batch's
// (1 on one process); the loss is the mean over this rank's rows, its
// gradient is scaled to the rank's part of the whole batch's mean.
double forward_and_loss(BranchyNet& net, const Batch& batch, const std::vector<float>& weights, Phase phase,
                        float share, std::vector<Tensor>& d_logits, std::vector<int64_t>& correct) {
  std::vector<Tensor> logits(net.num_exits());  // (B, classes) per exit
  if (phase == Phase::trunk) {
    logits.back() = net.forward_final(batch.images, Mode::train);
  } else if (phase == Phase::branches) {
    std::vector<bool> trained(net.num_exits() - 1);
    for (size_t i = 0; i < trained.size(); ++i) trained[i] = weights[i] != 0.0f;
    logits = net.forward_branches_on_frozen_trunk(batch.images, trained);
  } else
    logits = net.forward_exits(batch.images, Mode::train);
  double loss = 0;
  for (size_t e = 0; e < logits.size(); ++e) {
    d_logits[e] = Tensor();
    if (!logits[e].defined()) continue;
    const std::vector<int> predicted = argmax_rows(logits[e]);
    for (int64_t i = 0; i < batch.size(); ++i) correct[e] += predicted[i] == batch.labels[i];
    if (weights[e] == 0.0f) continue;
    Tensor grad;
    loss += weights[e] * softmax_cross_entropy(logits[e], batch.labels, &grad);
    const float scale = weights[e] * share;
    if (scale != 1.0f)
      for (int64_t i = 0; i < grad.numel(); ++i) grad[i] *= scale;
    d_logits[e] = grad;
  }
  return loss;
}

// Stops a run that met a NaN or an infinity at (epoch, batch): what went
// wrong and where, and that the checkpoints saved so far are untouched (this
// epoch's are written only after its last batch).
[[noreturn]] void fail_diverged(int epoch, int64_t batch_index, const std::string& what, const std::string& out_dir) {
  fail("training diverged at epoch ", epoch, " batch ", batch_index, ": ", what, "; checkpoints already saved in ",
       out_dir, " are kept (try a lower learning rate)");
}

// Why the loss of `batch` is not finite: the first layer whose output holds a
// NaN or an infinity, and the first weight that does. Runs once, on failure.
std::string non_finite_loss_cause(BranchyNet& net, const Batch& batch, Phase phase, double loss) {
  std::ostringstream cause;
  cause << "the loss is " << number_for_message(loss);
  // On a frozen trunk the stages ran in eval mode; train mode would move their statistics.
  const Mode mode = phase == Phase::branches ? Mode::eval : Mode::train;
  const std::string output = first_non_finite_output(net, batch.images, mode, phase == Phase::trunk);
  if (output.empty())
    cause << "; every layer's output is finite, so the loss itself overflowed";
  else
    cause << "; the first NaN or infinity is in " << output;
  const std::string weight = first_non_finite_param_value(net.named_params());
  if (!weight.empty()) cause << "; parameter " << weight;
  return cause.str();
}

// The loss and right answers of this rank's rows, summed over the ranks at
// the end of the epoch (one sum, not one per batch).
struct EpochTotals {
  double loss_sum = 0;  // sum over rows of each row's weighted loss
  int64_t rows = 0;
  std::vector<int64_t> correct;  // (exits)

  void sum_over(Communicator& group) {
    std::vector<double> all = {loss_sum, static_cast<double>(rows)};
    for (int64_t c : correct) all.push_back(static_cast<double>(c));  // exact below 2^53
    group.sum(all.data(), static_cast<int64_t>(all.size()));
    loss_sum = all[0];
    rows = static_cast<int64_t>(all[1]);
    for (size_t e = 0; e < correct.size(); ++e) correct[e] = static_cast<int64_t>(all[2 + e]);
  }
};

// This rank's forward and backward on one batch (none when it has no rows
// of the batch) and the gradients summed over the ranks; the caller checks
// them and takes the optimizer step. Adds to `totals`; returns this rank's
// mean loss (non-finite: returned before backward).
double forward_backward_one_batch(BranchyNet& net, const Batch& batch, PhaseOptimizer& optimizer,
                       const std::vector<float>& weights, std::vector<Tensor>& d_logits, EpochTotals& totals) {
  const float share = static_cast<float>(batch.size()) / static_cast<float>(batch.global_size);
  double batch_loss = 0;
  optimizer.optimizer->zero_grad();
  if (optimizer.buckets) optimizer.buckets->start_step();
  if (batch.size() > 0) {
    batch_loss = forward_and_loss(net, batch, weights, optimizer.phase, share, d_logits, totals.correct);
    if (!std::isfinite(batch_loss)) return batch_loss;
    if (optimizer.phase == Phase::branches)
      net.backward_branches(d_logits);
    else
      net.backward_exits(d_logits);
  }
  if (optimizer.buckets) optimizer.buckets->finish();
  totals.loss_sum += batch_loss * batch.size();
  totals.rows += batch.size();
  return batch_loss;
}

// One pass over the training split: sets the record's train loss, per-exit
// train accuracy (NaN for the branches in the trunk phase, which does not
// run them), images per second and time in gradient sums. A NaN or an
// infinity in the loss or in a gradient stops it before the optimizer step
// (see fail_diverged).
void train_one_epoch(BranchyNet& net, Batcher& batcher, PhaseOptimizer& optimizer, int total_epochs,
                     int64_t train_size, const TrainOptions& options, Communicator& group, EpochRecord& record) {
  const int exits = net.num_exits();
  const Phase phase = optimizer.phase;
  const std::vector<float> weights = exit_loss_weights(options, exits, phase);
  // In the order backward fills their gradients, so that the first
  // non-finite one found is where backward went wrong.
  std::vector<ParamRef> params_in_backward_order = phase_params(net, phase, options);
  std::reverse(params_in_backward_order.begin(), params_in_backward_order.end());
  const double communication_before = optimizer.buckets ? optimizer.buckets->communication_seconds() : 0.0;
  Timer timer;
  char label[64];
  std::snprintf(label, sizeof label, "epoch %d/%d", record.epoch, total_epochs);
  std::optional<ProgressBar> progress;
  if (!options.quiet && group.is_root()) progress.emplace(label, train_size, "img");
  batcher.start_epoch(record.epoch);
  Batch batch;
  std::vector<Tensor> d_logits(exits);
  EpochTotals totals;
  totals.correct.assign(exits, 0);
  int64_t seen = 0, batch_index = 0;  // seen: rows of every rank, for the progress bar's rate
  // The bar shows the last exit's accuracy; in the branches phase the first trained branch's.
  int shown_exit = exits - 1;
  if (phase == Phase::branches)
    for (shown_exit = 0; weights[shown_exit] == 0.0f;) ++shown_exit;  // check_train_options: one is not 0
  while (batcher.next(batch)) {
    ++batch_index;
    const double batch_loss = forward_backward_one_batch(net, batch, optimizer, weights, d_logits, totals);
    if (!std::isfinite(batch_loss))
      fail_diverged(record.epoch, batch_index, non_finite_loss_cause(net, batch, phase, batch_loss),
                    options.out_dir);
    // Checked before the step, so that a spoiled gradient never reaches the weights.
    const std::string spoiled_gradient = first_non_finite_gradient(params_in_backward_order);
    if (!spoiled_gradient.empty())
      fail_diverged(record.epoch, batch_index,
                    "the gradient of " + spoiled_gradient + " (the loss was " + number_for_message(batch_loss) + ")",
                    options.out_dir);
    optimizer.optimizer->step();
    seen += batch.global_size;
    if (!progress || totals.rows == 0) continue;
    char extra[96];  // this rank's rows so far
    std::snprintf(extra, sizeof extra, "loss %.4f acc %.4f", totals.loss_sum / totals.rows,
                  static_cast<double>(totals.correct[shown_exit]) / totals.rows);
    progress->update(seen, extra);
  }
  record.train_seconds = timer.seconds();
  if (optimizer.buckets) record.allreduce_seconds = optimizer.buckets->communication_seconds() - communication_before;
  totals.sum_over(group);
  record.train_loss = totals.loss_sum / totals.rows;
  for (int e = 0; e < exits; ++e) {
    const bool run = phase == Phase::joint || (phase == Phase::trunk ? e == exits - 1 : weights[e] != 0.0f);
    record.train_accuracy.push_back(run ? static_cast<double>(totals.correct[e]) / totals.rows
                                        : std::numeric_limits<double>::quiet_NaN());
  }
  record.images_per_second = totals.rows / record.train_seconds;
  if (progress) progress->finish();
}

void add_validation_scores(BranchyNet& net, const Dataset& validation, const Normalizer& normalizer,
                           Communicator& group, EpochRecord& record) {
  const ExitScores scores = score_exits(net, validation, &normalizer, 256, group);
  for (int e = 0; e < net.num_exits(); ++e) {
    record.validation_loss.push_back(scores.mean_loss(e));
    record.validation_accuracy.push_back(scores.accuracy(e));
  }
}

std::string training_plot_path(const TrainOptions& options) { return options.out_dir + "/training.svg"; }

// Updates the best epoch, logs the row, saves model.safetensors (when best)
// and last.safetensors, and redraws the plot. Returns whether the epoch is
// the best so far. Ranks other than 0 pass no log and write nothing (they
// keep the best epoch all the same).
bool save_epoch(BranchyNet& net, const TrainOptions& options, const EpochRecord& record, Optimizer& optimizer,
                ModelInfo& info, CsvWriter* log, const std::string& csv_path, TrainResult& result) {
  // The last exit's validation accuracy; on a frozen trunk, which never
  // changes it, the mean over the trained branches.
  double score = record.validation_accuracy.back();
  if (options.frozen_trunk) {
    const std::vector<bool> trained = trained_branches(options, net.num_exits());
    double sum = 0;
    int count = 0;
    for (size_t i = 0; i < trained.size(); ++i)
      if (trained[i]) sum += record.validation_accuracy[i], ++count;
    score = sum / count;
  }
  const bool best = result.best_epoch == 0 || score > result.best_validation_accuracy;
  if (best) {
    result.best_epoch = record.epoch;
    result.best_validation_accuracy = score;
  }
  if (!log) return best;
  info.training = options.to_json();
  info.training["epoch"] = record.epoch;
  info.training["best_epoch"] = result.best_epoch;
  info.training["best_validation_accuracy"] = result.best_validation_accuracy;
  // The row goes first: a run killed between it and last.safetensors logged
  // an epoch it did not save, and resuming drops that row (trim_log); the
  // other order would lose the row of an epoch that was saved.
  log->row(csv_row(record));
  if (best) save_model(result.model_path, net, info, nullptr);
  save_model(result.last_path, net, info, &optimizer);
  write_training_plot(training_plot_path(options), csv_path, net.name());
  return best;
}

// On several ranks the line also says how much of the training pass went to
// gradient sums that backward did not hide, and the parameters' checksum.
void print_epoch_line(const EpochRecord& record, int total_epochs, bool best, int ranks) {
  std::printf("epoch %d/%d %s  lr %.3g  loss %.4f  train acc %s  val acc %s  %.0f img/s  %.1f s%s", record.epoch,
              total_epochs, record.phase.c_str(), record.learning_rate, record.train_loss,
              accuracy_list(record.train_accuracy).c_str(), accuracy_list(record.validation_accuracy).c_str(),
              record.images_per_second, record.seconds, best ? "  (best)" : "");
  if (ranks > 1)
    std::printf("  [%d ranks: allreduce %.2f s = %.1f%% of train time, checksum %s]", ranks,
                record.allreduce_seconds, 100.0 * record.allreduce_seconds / record.train_seconds,
                checksum_text(record.parameter_checksum).c_str());
  std::printf("\n");
  std::fflush(stdout);
}

// On a frozen trunk nothing reads the branches' input gradients; the
// branches are told so for the run and told otherwise again after it.
class BranchInputGradients {
 public:
  BranchInputGradients(BranchyNet& net, bool needed) : net_(net) { set(needed); }
  ~BranchInputGradients() { set(true); }
  BranchInputGradients(const BranchInputGradients&) = delete;
  BranchInputGradients& operator=(const BranchInputGradients&) = delete;

 private:
  void set(bool needed) {
    for (int i = 0; i < net_.num_exits() - 1; ++i) net_.branch(i).set_needs_input_grad(needed);
  }
  BranchyNet& net_;
};

// Rank 0's weights (and optimizer state, when resumed) on every rank; batch
// norm synchronised over the ranks when asked. Undone by the destructor.
class RanksInStep {
 public:
  RanksInStep(BranchyNet& net, PhaseOptimizer& optimizer, Communicator& group, bool sync_batch_norm)
      : net_(net) {
    std::vector<Tensor*> state = parameter_values(net.named_params());
    for (auto& [name, tensor] : optimizer.optimizer->state_tensors()) state.push_back(tensor);
    copy_from_root(group, state);
    if (sync_batch_norm && group.size() > 1) set_batch_norm_group(net, &group);
  }
  ~RanksInStep() { set_batch_norm_group(net_, nullptr); }
  RanksInStep(const RanksInStep&) = delete;
  RanksInStep& operator=(const RanksInStep&) = delete;

 private:
  BranchyNet& net_;
};

// After an epoch: running statistics averaged over the ranks (each rank's
// own rows moved them, unless synchronised), then the parameters checked
// to be the same on every rank. Returns their checksum.
uint64_t bring_ranks_together(BranchyNet& net, Communicator& group, const TrainOptions& options, int epoch) {
  const std::vector<ParamRef> params = net.named_params();
  // A frozen trunk's statistics are the same everywhere and stay bit for bit as they are.
  const std::vector<ParamRef> moved = options.frozen_trunk ? phase_params(net, Phase::branches, options) : params;
  if (!options.sync_batch_norm) average_over_ranks(group, buffer_values(moved));
  return check_ranks_agree(group, params, "after epoch " + std::to_string(epoch));
}

}  // namespace

TrainResult train_network(BranchyNet& net, const DatasetSplits& data, const Normalizer& normalizer,
                          const TrainOptions& options) {
  check_train_options(net, data, options);
  Communicator& group = options.group ? *options.group : single_process();
  const bool root = group.is_root();
  const int total_epochs = options.trunk_epochs + options.epochs;
  if (root) make_directory(options.out_dir);
  TrainResult result;
  result.model_path = options.out_dir + "/model.safetensors";
  result.last_path = options.out_dir + "/last.safetensors";
  const std::string csv_path = options.out_dir + "/train_log.csv";
  // A run killed while it wrote a file left that file's temporary copy.
  for (const std::string& path : {result.model_path, result.last_path, csv_path, training_plot_path(options)})
    remove_abandoned_temporary_files(path);

  PhaseOptimizer optimizer;
  optimizer.start(net, phase_of_epoch(options, 1), options);
  const BranchInputGradients branch_inputs(net, !options.frozen_trunk);
  std::unique_ptr<LrSchedule> schedule = make_lr_schedule(options.lr_schedule, options.learning_rate, total_epochs);
  ModelInfo info;
  info.normalizer = normalizer;
  info.dataset = options.dataset_info;
  const int first_epoch = options.resume ? resume_from_last_checkpoint(net, options, csv_path, optimizer, result) : 1;
  const RanksInStep in_step(net, optimizer, group, options.sync_batch_norm);
  std::optional<CsvWriter> log;
  if (root)
    log.emplace(csv_path, csv_columns(net.num_exits()),
                options.resume ? CsvWriter::Mode::append : CsvWriter::Mode::truncate);

  Batcher batcher(data.train, options.batch_size, true, options.seed, &normalizer, options.augmentation,
                  Shard{group.rank(), group.size()});
  for (int epoch = first_epoch; epoch <= total_epochs; ++epoch) {
    const Phase phase = phase_of_epoch(options, epoch);
    // The joint phase starts from the trained trunk, with a fresh optimizer over every parameter.
    if (optimizer.phase != phase) optimizer.start(net, phase, options);
    reseed_dropout(net, rank_seed(options.seed, group.rank()), epoch);
    EpochRecord record;
    record.epoch = epoch;
    record.phase = phase_name(phase);
    record.learning_rate = schedule->learning_rate(epoch - 1);
    optimizer.optimizer->set_learning_rate(record.learning_rate);

    Timer timer;
    train_one_epoch(net, batcher, optimizer, total_epochs, data.train.size(), options, group, record);
    if (group.size() > 1) record.parameter_checksum = bring_ranks_together(net, group, options, epoch);
    add_validation_scores(net, data.validation, normalizer, group, record);
    record.seconds = timer.seconds();
    result.epochs.push_back(record);
    const bool best = save_epoch(net, options, record, *optimizer.optimizer, info, log ? &*log : nullptr, csv_path,
                                 result);
    if (!options.quiet && root) print_epoch_line(record, total_epochs, best, group.size());
  }
  return result;
}

}  // namespace branchy
