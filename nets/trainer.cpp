#include "nets/trainer.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>

#include "engine/csv.h"
#include "engine/error.h"
#include "engine/loss.h"
#include "engine/lr_schedule.h"
#include "engine/optimizer.h"
#include "engine/progress.h"
#include "engine/timer.h"
#include "nets/exit_outputs.h"
#include "nets/model_file.h"
#include "nets/training_plot.h"

namespace branchy {

Json TrainOptions::to_json() const {
  Json j = Json::object();
  j.set("epochs", epochs);
  j.set("trunk_epochs", trunk_epochs);
  j.set("batch_size", batch_size);
  j.set("optimizer", optimizer);
  j.set("learning_rate", static_cast<double>(learning_rate));
  j.set("momentum", static_cast<double>(momentum));
  j.set("nesterov", nesterov);
  j.set("weight_decay", static_cast<double>(weight_decay));
  j.set("lr_schedule", lr_schedule);
  Json weights = Json::array();
  for (float w : exit_weights) weights.push_back(static_cast<double>(w));
  j.set("exit_weights", weights);
  j.set("crop_padding", augmentation.crop_padding);
  j.set("horizontal_flip", augmentation.horizontal_flip);
  j.set("seed", static_cast<int64_t>(seed));
  return j;
}

namespace {

std::unique_ptr<Optimizer> make_optimizer(BranchyNet& net, const TrainOptions& o) {
  if (o.optimizer == "adam") {
    AdamOptions a;
    a.learning_rate = o.learning_rate;
    a.weight_decay = o.weight_decay;
    return std::make_unique<Adam>(net.named_params(), a);
  }
  if (o.optimizer == "sgd") {
    SgdOptions s;
    s.learning_rate = o.learning_rate;
    s.momentum = o.momentum;
    s.nesterov = o.nesterov;
    s.weight_decay = o.weight_decay;
    return std::make_unique<Sgd>(net.named_params(), s);
  }
  fail("unknown optimizer '", o.optimizer, "' (known: adam, sgd)");
}

void make_directory(const std::string& path) {
  if (path.empty()) return;
  struct stat info;
  if (stat(path.c_str(), &info) == 0) {
    BRANCHY_CHECK(S_ISDIR(info.st_mode), path, ": exists and is not a folder");
    return;
  }
  const size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) make_directory(path.substr(0, slash));
  BRANCHY_CHECK(mkdir(path.c_str(), 0755) == 0 || errno == EEXIST, path, ": cannot create folder");
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

std::string accuracy_list(const std::vector<double>& values) {
  std::string s;
  char buffer[32];
  for (size_t i = 0; i < values.size(); ++i) {
    std::snprintf(buffer, sizeof buffer, "%s%.4f", i ? " " : "", values[i]);
    s += buffer;
  }
  return s;
}

}  // namespace

TrainResult train_network(BranchyNet& net, const DatasetSplits& data, const Normalizer& normalizer,
                          const TrainOptions& options) {
  const int exits = net.num_exits();
  const int total_epochs = options.trunk_epochs + options.epochs;
  BRANCHY_CHECK(options.batch_size >= 1, "batch size must be at least 1, got ", options.batch_size);
  BRANCHY_CHECK(options.epochs >= 0 && options.trunk_epochs >= 0 && total_epochs >= 1, "nothing to train: ",
                options.trunk_epochs, " trunk epochs and ", options.epochs, " joint epochs");
  BRANCHY_CHECK(options.exit_weights.empty() || static_cast<int>(options.exit_weights.size()) == exits,
                net.name(), " has ", exits, " exits but ", options.exit_weights.size(), " exit weights were given");
  BRANCHY_CHECK(data.train.size() > 0, "the training split is empty");
  const std::vector<float> joint_weights =
      options.exit_weights.empty() ? std::vector<float>(exits, 1.0f) : options.exit_weights;
  std::vector<float> trunk_weights(exits, 0.0f);
  trunk_weights.back() = 1.0f;

  make_directory(options.out_dir);
  TrainResult result;
  result.model_path = options.out_dir + "/model.safetensors";
  result.last_path = options.out_dir + "/last.safetensors";
  const std::string csv_path = options.out_dir + "/train_log.csv";

  std::unique_ptr<Optimizer> optimizer = make_optimizer(net, options);
  std::unique_ptr<LrSchedule> schedule = make_lr_schedule(options.lr_schedule, options.learning_rate, total_epochs);

  ModelInfo info;
  info.normalizer = normalizer;
  info.dataset = options.dataset_info;
  int first_epoch = 1;
  if (options.resume) {
    LoadedModel last = load_model(result.last_path);
    BRANCHY_CHECK(last.net->name() == net.name() && last.net->config() == net.config(), result.last_path,
                  ": was trained with network ", last.net->name(), " ", last.net->config().dump(),
                  ", not the requested ", net.name(), " ", net.config().dump());
    Checkpoint weights;
    for (const NamedTensor& t : last.checkpoint.tensors)
      if (t.name.rfind("optimizer.", 0) != 0) weights.tensors.push_back(t);
    load_params(weights, net.named_params(), result.last_path);
    restore_optimizer(last.checkpoint, *optimizer, result.last_path);
    first_epoch = static_cast<int>(last.info.training.get_int("epoch")) + 1;
    result.best_epoch = static_cast<int>(last.info.training.get_int("best_epoch", 0));
    result.best_validation_accuracy = last.info.training.get_double("best_validation_accuracy", 0.0);
    if (!options.quiet)
      std::printf("resuming %s from %s after epoch %d\n", net.name().c_str(), result.last_path.c_str(),
                  first_epoch - 1);
  }
  CsvWriter log(csv_path, csv_columns(exits), options.resume ? CsvWriter::Mode::append : CsvWriter::Mode::truncate);

  Batcher batcher(data.train, options.batch_size, true, options.seed, &normalizer, options.augmentation);
  std::vector<Tensor> d_logits(exits);
  for (int epoch = first_epoch; epoch <= total_epochs; ++epoch) {
    const bool trunk_phase = epoch <= options.trunk_epochs;
    const std::vector<float>& weights = trunk_phase ? trunk_weights : joint_weights;
    EpochRecord record;
    record.epoch = epoch;
    record.phase = trunk_phase ? "trunk" : "joint";
    record.learning_rate = schedule->learning_rate(epoch - 1);
    optimizer->set_learning_rate(record.learning_rate);

    Timer timer;
    char label[64];
    std::snprintf(label, sizeof label, "epoch %d/%d", epoch, total_epochs);
    std::optional<ProgressBar> progress;
    if (!options.quiet) progress.emplace(label, data.train.size(), "img");
    batcher.start_epoch(epoch);
    Batch batch;
    double loss_sum = 0;
    std::vector<int64_t> correct(exits, 0);
    int64_t seen = 0, batch_index = 0;
    while (batcher.next(batch)) {
      ++batch_index;
      std::vector<Tensor> logits = net.forward_exits(batch.images, Mode::train);
      double batch_loss = 0;
      for (int e = 0; e < exits; ++e) {
        const std::vector<int> predicted = argmax_rows(logits[e]);
        for (int64_t i = 0; i < batch.size(); ++i) correct[e] += predicted[i] == batch.labels[i];
        if (weights[e] == 0.0f) {
          d_logits[e] = Tensor();
          continue;
        }
        Tensor grad;
        batch_loss += weights[e] * softmax_cross_entropy(logits[e], batch.labels, &grad);
        if (weights[e] != 1.0f)
          for (int64_t i = 0; i < grad.numel(); ++i) grad[i] *= weights[e];
        d_logits[e] = grad;
      }
      if (!std::isfinite(batch_loss))
        fail("training diverged at epoch ", epoch, " batch ", batch_index, ": the loss is ", batch_loss,
             "; checkpoints already saved in ", options.out_dir, " are kept (try a lower learning rate)");
      optimizer->zero_grad();
      net.backward_exits(d_logits);
      optimizer->step();
      loss_sum += batch_loss * batch.size();
      seen += batch.size();
      char extra[96];
      std::snprintf(extra, sizeof extra, "loss %.4f acc %.4f", loss_sum / seen,
                    static_cast<double>(correct.back()) / seen);
      if (progress) progress->update(seen, extra);
    }
    const double train_seconds = timer.seconds();
    record.train_loss = loss_sum / seen;
    for (int e = 0; e < exits; ++e) record.train_accuracy.push_back(static_cast<double>(correct[e]) / seen);
    if (progress) progress->finish();

    const ExitOutputs validation = run_all_exits(net, data.validation, &normalizer, 256);
    for (int e = 0; e < exits; ++e) {
      record.validation_loss.push_back(validation.mean_loss(e));
      record.validation_accuracy.push_back(validation.accuracy(e));
    }
    record.seconds = timer.seconds();
    record.images_per_second = seen / train_seconds;
    result.epochs.push_back(record);
    log.row(csv_row(record));

    const double score = validation.size() ? record.validation_accuracy.back() : -record.train_loss;
    const bool best = result.best_epoch == 0 || score > result.best_validation_accuracy;
    if (best) {
      result.best_epoch = epoch;
      result.best_validation_accuracy = score;
    }
    info.training = options.to_json();
    info.training.set("epoch", epoch);
    info.training.set("best_epoch", result.best_epoch);
    info.training.set("best_validation_accuracy", result.best_validation_accuracy);
    if (best) save_model(result.model_path, net, info, nullptr);
    save_model(result.last_path, net, info, optimizer.get());
    write_training_plot(options.out_dir + "/training.svg", csv_path, net.name());

    if (!options.quiet)
      std::printf("epoch %d/%d %s  lr %.3g  loss %.4f  train acc %s  val acc %s  %.0f img/s  %.1f s%s\n", epoch,
                  total_epochs, record.phase.c_str(), record.learning_rate, record.train_loss,
                  accuracy_list(record.train_accuracy).c_str(), accuracy_list(record.validation_accuracy).c_str(),
                  record.images_per_second, record.seconds, best ? "  (best)" : "");
    std::fflush(stdout);
  }
  return result;
}

}  // namespace branchy
