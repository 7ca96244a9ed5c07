#include "pipeline/segment_timing.h"

#include <algorithm>

#include "engine/error.h"
#include "report/timer.h"

namespace branchy {

SegmentCosts time_segments(BranchyNet& net, const Tensor& images, int64_t samples, int rounds) {
  BRANCHY_CHECK(images.rank() == 4 && samples >= 1 && samples <= images.dim(0) && rounds >= 1,
                "time_segments: want 1..", images.dim(0), " samples of ", images.shape().str(), " and rounds >= 1, got ",
                samples, " and ", rounds);
  const int stages = net.num_stages();
  SegmentCosts best;  // microseconds
  best.stage.assign(stages, 1e300);
  best.branch.assign(stages - 1, 1e300);
  // One untimed sample first: buffers grow to size, code and weights come into cache.
  for (int round = -1; round < rounds; ++round) {
    const int64_t count = round < 0 ? 1 : samples;
    std::vector<double> stage_total(stages, 0.0), branch_total(stages - 1, 0.0);
    for (int64_t n = 0; n < count; ++n) {
      Tensor h = images.batch_slice(n, n + 1);  // (1, C, H, W)
      for (int s = 0; s < stages; ++s) {
        Timer timer;
        h = net.stage(s).forward(h, Mode::eval);
        stage_total[s] += timer.microseconds();
        if (s + 1 < stages) {
          timer.restart();
          net.branch(s).forward(h, Mode::eval);
          branch_total[s] += timer.microseconds();
        }
      }
    }
    if (round < 0) continue;
    for (int s = 0; s < stages; ++s) best.stage[s] = std::min(best.stage[s], stage_total[s] / samples);
    for (int b = 0; b + 1 < stages; ++b) best.branch[b] = std::min(best.branch[b], branch_total[b] / samples);
  }
  return best;
}

namespace {

// Times every layer of `segment` on its input, appending to `out`; returns the segment's output.
Tensor time_segment_layers(Sequential& segment, Tensor x, int calls, std::vector<double>& out) {
  for (size_t i = 0; i < segment.size(); ++i) {
    Layer& layer = segment.layer(i);
    Tensor y = layer.forward(x, Mode::eval);  // warm-up; also the next layer's input
    const Timer timer;
    for (int c = 0; c < calls; ++c) layer.forward(x, Mode::eval);
    out.push_back(timer.microseconds() / calls);
    x = y;
  }
  return x;
}

}  // namespace

std::vector<double> time_layers(BranchyNet& net, const Tensor& image, int calls) {
  BRANCHY_CHECK(image.rank() == 4 && image.dim(0) == 1 && calls >= 1, "time_layers: want one image (1, C, H, W) and ",
                "calls >= 1, got ", image.shape().str(), " and ", calls);
  std::vector<double> us;
  Tensor h = image;
  for (int s = 0; s < net.num_stages(); ++s) {
    h = time_segment_layers(net.stage(s), h, calls, us);
    if (s + 1 < net.num_stages()) time_segment_layers(net.branch(s), h, calls, us);
  }
  return us;
}

}  // namespace branchy
