// branchy info — what a model file holds: network, settings, MACs per layer.
#include <cstdio>

#include "bin/commands.h"
#include "bin/common.h"
#include "engine/table.h"

namespace branchy {

int command_info(int argc, char** argv) {
  ArgParser args("info", "Prints a model's network, settings, parameters and MACs per layer.");
  args.positional("MODEL", "a .safetensors file written by branchy train");
  if (!args.parse(argc, argv)) return 0;
  const std::string path = args.get("MODEL");
  LoadedModel model = load_model(path);
  BranchyNet& net = *model.net;

  std::printf("%s: %s, input %s, %d classes, %d exits\n", path.c_str(), net.name().c_str(),
              net.sample_shape().str().c_str(), net.classes(), net.num_exits());
  std::printf("settings: %s\n", net.config().dump().c_str());
  if (model.info.normalizer) std::printf("normalizer: %s\n", model.info.normalizer->describe().c_str());
  if (!model.info.thresholds.empty()) {
    std::printf("entropy thresholds:");
    for (float t : model.info.thresholds) std::printf(" %g", t);
    std::printf("\n");
  }
  if (model.info.training.contains("epoch"))
    std::printf("trained: %lld epochs, best epoch %lld (validation accuracy %.4f)\n",
                static_cast<long long>(model.info.training.get_int("epoch")),
                static_cast<long long>(model.info.training.get_int("best_epoch", 0)),
                model.info.training.get_double("best_validation_accuracy", 0.0));
  std::printf("\n");

  TextTable layers({"layer", "what", "output", "MACs", "params"});
  for (const LayerReport& line : net.report())
    layers.add_row({line.name, line.description, line.output_shape.str(), format_count(line.macs),
                    format_count(line.parameters)});
  std::fputs(layers.render().c_str(), stdout);

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
