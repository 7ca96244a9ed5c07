// branchy info — what a model file holds: network, settings, MACs per layer.
#include <cstdio>

#include "bin/commands.h"
#include "bin/common.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "report/table.h"
#include "pipeline/segment_timing.h"

namespace branchy {

namespace {

// One row per layer: output shape, MACs and parameters; with calls > 0 also
// its batch-1 time over `calls` forward calls and the MACs per second.
void print_layers(BranchyNet& net, int calls) {
  std::vector<std::string> columns = {"layer", "what", "output", "MACs", "params"};
  std::vector<double> micros;
  if (calls > 0) {
    // Values in [-1, 1): the time of these layers does not depend on them.
    Tensor image = Tensor::uninitialized(net.sample_shape());
    Rng rng(1);
    for (int64_t i = 0; i < image.numel(); ++i) image[i] = rng.uniform(-1.0f, 1.0f);
    micros = time_layers(net, image, calls);
    columns.insert(columns.end(), {"us (b=1)", "GMAC/s"});
  }
  TextTable layers(columns);
  const std::vector<LayerReport> lines = net.report();
  for (size_t i = 0; i < lines.size(); ++i) {
    const LayerReport& line = lines[i];
    std::vector<std::string> row = {line.name, line.description, line.output_shape.str(), format_count(line.macs),
                                    format_count(line.parameters)};
    if (calls > 0) {
      char us[32], rate[32];
      std::snprintf(us, sizeof us, "%.2f", micros[i]);
      std::snprintf(rate, sizeof rate, "%.2f", line.macs / micros[i] * 1e-3);
      row.insert(row.end(), {us, line.macs > 0 ? rate : "-"});
    }
    layers.add_row(row);
  }
  std::fputs(layers.render().c_str(), stdout);

}

}  // namespace

int command_info(const InfoArgs& args) {
  set_num_threads(args.threads);
  const int calls = args.time_calls;
  const std::string& path = args.model_path;
  LoadedModel model = load_model(path);
  BranchyNet& net = *model.net;

  std::printf("%s: %s, input %s, %d classes, %d exits\n", path.c_str(), net.name().c_str(),
              net.sample_shape().str().c_str(), net.classes(), net.num_exits());
  std::printf("settings: %s\n", dump_json(net.config()).c_str());
  if (model.info.normalizer) std::printf("normalizer: %s\n", model.info.normalizer->describe().c_str());
  if (!model.info.thresholds.empty()) {
    std::printf("entropy thresholds:");
    for (float t : model.info.thresholds) std::printf(" %g", t);
    std::printf("\n");
  }
  if (model.info.training.contains("epoch"))
    std::printf("trained: %lld epochs, best epoch %lld (validation accuracy %.4f)\n",
                static_cast<long long>(json_int(model.info.training, "epoch")),
                static_cast<long long>(json_int(model.info.training, "best_epoch", 0)),
                json_double(model.info.training, "best_validation_accuracy", 0.0));
  std::printf("\n");

  print_layers(net, calls);

  std::printf("\n");
  TextTable segments({"segment", "MACs", "MACs to exit here"});
  int64_t trunk = 0;
  for (int i = 0; i < net.num_stages(); ++i) {
    trunk += net.stage_macs(i);
    segments.add_row({"stage" + std::to_string(i), format_count(net.stage_macs(i)),
                      i == net.num_stages() - 1 ? format_count(trunk) : ""});
    if (i < net.num_stages() - 1)
      segments.add_row({"branch" + std::to_string(i), format_count(net.branch_macs(i)),
                        format_count(trunk + net.branch_macs(i))});
  }
  std::fputs(segments.render().c_str(), stdout);
  std::printf("\nparameters: %s; full network: %s MACs per sample\n", format_count(net.parameter_count()).c_str(),
              format_count(net.full_macs()).c_str());
  return 0;
}

}  // namespace branchy
