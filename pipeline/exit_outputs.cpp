#include "pipeline/exit_outputs.h"

#include <algorithm>

#include "datasets/batcher.h"
#include "engine/loss.h"
#include "pipeline/data_parallel.h"

namespace branchy {

double ExitOutputs::accuracy(int exit) const {
  if (labels.empty()) return 0.0;
  int64_t correct = 0;
  for (int64_t i = 0; i < size(); ++i) correct += predictions[exit][i] == labels[i];
  return static_cast<double>(correct) / static_cast<double>(size());
}

RecordedRun recorded_run(const ExitOutputs& outputs) {
  RecordedRun run;
  run.entropies = outputs.entropies;
  run.predictions = outputs.predictions;
  run.scores.assign(outputs.num_exits(), Tensor());
  return run;
}

ExitOutputs run_all_exits(BranchyNet& net, const Dataset& data, const Normalizer* normalizer, int batch_size,
                          const std::function<void(int64_t)>& progress) {
  ExitOutputs out;
  const int exits = net.num_exits();
  out.labels = data.labels;
  out.predictions.assign(exits, {});
  out.entropies.assign(exits, {});
  out.loss_sums.assign(exits, 0.0);
  for (int e = 0; e < exits; ++e) {
    out.predictions[e].reserve(data.size());
    out.entropies[e].reserve(data.size());
  }
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    const int64_t end = std::min<int64_t>(data.size(), begin + batch_size);
    Tensor images = normalized_images(data, begin, end, normalizer);  // (B, C, H, W)
    const std::vector<int> labels(data.labels.begin() + begin, data.labels.begin() + end);
    std::vector<Tensor> logits = net.forward_exits(images, Mode::eval);
    for (int e = 0; e < exits; ++e) {
      const std::vector<int> predicted = argmax_rows(logits[e]);
      const std::vector<float> entropy = softmax_entropy(logits[e]);
      out.predictions[e].insert(out.predictions[e].end(), predicted.begin(), predicted.end());
      out.entropies[e].insert(out.entropies[e].end(), entropy.begin(), entropy.end());
      out.loss_sums[e] += static_cast<double>(softmax_cross_entropy(logits[e], labels, nullptr)) * (end - begin);
    }
    if (progress) progress(end);
  }
  return out;
}

ExitScores score_exits(BranchyNet& net, const Dataset& data, const Normalizer* normalizer, int batch_size,
                       Communicator& group) {
  const int exits = net.num_exits();
  ExitScores scores;
  scores.samples = data.size();
  scores.correct.assign(exits, 0);
  scores.loss_sums.assign(exits, 0.0);
  const SampleRange mine = part_of_batches(data.size(), batch_size, group.rank(), group.size());
  for (int64_t begin = mine.begin; begin < mine.end; begin += batch_size) {
    const int64_t end = std::min<int64_t>(mine.end, begin + batch_size);
    Tensor images = normalized_images(data, begin, end, normalizer);  // (B, C, H, W)
    const std::vector<int> labels(data.labels.begin() + begin, data.labels.begin() + end);
    std::vector<Tensor> logits = net.forward_exits(images, Mode::eval);
    for (int e = 0; e < exits; ++e) {
      const std::vector<int> predicted = argmax_rows(logits[e]);
      for (size_t i = 0; i < predicted.size(); ++i) scores.correct[e] += predicted[i] == labels[i];
      scores.loss_sums[e] += static_cast<double>(softmax_cross_entropy(logits[e], labels, nullptr)) * (end - begin);
    }
  }
  group.sum(scores.correct.data(), exits);
  group.sum(scores.loss_sums.data(), exits);
  return scores;
}

}  // namespace branchy
