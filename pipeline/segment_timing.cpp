#include "pipeline/segment_timing.h"

#include <algorithm>
#include <chrono>

#include "engine/error.h"

namespace branchy {

namespace {

double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

SegmentTimes time_segments(BranchyNet& net, const Tensor& images, int64_t samples, int rounds) {
  BRANCHY_CHECK(images.rank() == 4 && samples >= 1 && samples <= images.dim(0) && rounds >= 1,
                "time_segments: want 1..", images.dim(0), " samples of ", images.shape().str(), " and rounds >= 1, got ",
                samples, " and ", rounds);
  const int stages = net.num_stages();
  SegmentTimes best;
  best.stage_us.assign(stages, 1e300);
  best.branch_us.assign(stages - 1, 1e300);
  // One untimed sample first: buffers grow to size, code and weights come into cache.
  for (int round = -1; round < rounds; ++round) {
    const int64_t count = round < 0 ? 1 : samples;
    std::vector<double> stage_total(stages, 0.0), branch_total(stages - 1, 0.0);
    for (int64_t n = 0; n < count; ++n) {
      Tensor h = images.batch_slice(n, n + 1);  // (1, C, H, W)
      for (int s = 0; s < stages; ++s) {
        double start = now_us();
        h = net.stage(s).forward(h, Mode::eval);
        stage_total[s] += now_us() - start;
        if (s + 1 < stages) {
          start = now_us();
          net.branch(s).forward(h, Mode::eval);
          branch_total[s] += now_us() - start;
        }
      }
    }
    if (round < 0) continue;
    for (int s = 0; s < stages; ++s) best.stage_us[s] = std::min(best.stage_us[s], stage_total[s] / samples);
    for (int b = 0; b + 1 < stages; ++b) best.branch_us[b] = std::min(best.branch_us[b], branch_total[b] / samples);
  }
  return best;
}

namespace {

// Times every layer of `segment` on its input, appending to `out`; returns the segment's output.
Tensor time_segment_layers(Sequential& segment, Tensor x, int calls, std::vector<double>& out) {
  for (size_t i = 0; i < segment.size(); ++i) {
    Layer& layer = segment.layer(i);
    Tensor y = layer.forward(x, Mode::eval);  // warm-up; also the next layer's input
    const double start = now_us();
    for (int c = 0; c < calls; ++c) layer.forward(x, Mode::eval);
    out.push_back((now_us() - start) / calls);
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

double branchy_path_us(const SegmentTimes& times, int exit) {
  const int stages = static_cast<int>(times.stage_us.size());
  BRANCHY_CHECK(exit >= 0 && exit < stages, "branchy_path_us: exit ", exit, " of ", stages);
  double total = 0.0;
  for (int s = 0; s <= exit; ++s) total += times.stage_us[s];
  for (int b = 0; b <= std::min(exit, stages - 2); ++b) total += times.branch_us[b];
  return total;
}

double trunk_us(const SegmentTimes& times) {
  double total = 0.0;
  for (double us : times.stage_us) total += us;
  return total;
}

double predicted_branchy_latency_us(const SegmentTimes& times, const std::vector<double>& exit_share) {
  BRANCHY_CHECK(exit_share.size() == times.stage_us.size(), "predicted_branchy_latency_us: ", exit_share.size(),
                " exit shares for ", times.stage_us.size(), " exits");
  double total = 0.0;
  for (size_t e = 0; e < exit_share.size(); ++e) total += exit_share[e] * branchy_path_us(times, static_cast<int>(e));
  return total;
}

}  // namespace branchy
