// conv_vs_onednn.cpp — `make bench-onednn`: branchy's Conv2d against oneDNN's
// convolution on the 3x3 and 5x5 convolutions the five networks run on
// Fashion-MNIST (1x28x28 input), batch 64, at 1 and 2 threads, both timed in
// the same run so a busy machine slows both alike.
//
// Three passes per shape, each read as GFLOP/s = 2 * MACs / median time, with
// MACs = N * C_out * OH * OW * (C_in/groups) * K * K, the same for all three:
//   fwd          ours: Conv2d::forward(x, Mode::train)
//                oneDNN: convolution_forward, prop_kind::forward_training
//   bwd-data     ours: backward(dy) with the input gradient, MINUS the
//                bwd-weights time (Conv2d has no dx-only call; the two
//                backward variants are timed in turn, so the difference is
//                taken over the same machine state)
//                oneDNN: convolution_backward_data
//   bwd-weights  ours: backward(dy) on a layer told set_needs_input_grad(false)
//                (weight and bias gradients only)
//                oneDNN: convolution_backward_weights (+ bias gradient when
//                the layer has a bias)
//   ratio = ours / oneDNN in GFLOP/s: above 1 branchy is faster.
//
// oneDNN gets format_tag::any for src, weights and dst and picks its own
// blocked layouts; the reorders from NCHW are done once, outside the timing,
// so its times are the primitives alone. That is oneDNN's best case: a
// framework on top of it pays reorders at some layer boundaries, while
// branchy's times include everything its layer does (bias, im2col, column
// caching, NCHW in and out). oneDNN is asked for
// algorithm::convolution_direct (no Winograd); it may still choose a
// GEMM-based implementation, named in the table's last column.
//
// Threads: branchy::ThreadCountScope sets branchy's count and, through
// omp_set_num_threads, OpenMP's, which is what Debian's oneDNN (built with
// DNNL_CPU_THREADING_RUNTIME = OMP) reads when a primitive is created and run;
// oneDNN's primitives are therefore built inside the scope they run in.
//
// Timing: a pass's calls (ours, oneDNN, ours, oneDNN, ...) are sampled in
// turn, each sample ~1 ms of back-to-back calls, after a warm-up call each,
// until every call has had ~0.2 s (--quick: ~0.03 s); a time is the median
// sample. Before timing, each shape's results are compared between the two
// (output, dx, dW, db), so both sides compute the same convolution.
//
// Stage-0 convolutions (1 input channel) never run bwd-data in training: the
// first layer is told it needs no input gradient. They are kept for
// completeness; their bwd-data ratios say little.
//
// Usage: bench_conv_vs_onednn [--quick] [--csv FILE] [--only TEXT]. --only
// keeps shapes whose net, layer or "also" list contains TEXT. An unknown flag
// prints one error line and exits 2; a failure (CSV not writable, results
// that disagree) exits 1.
#include <time.h>    // clock_gettime: this process's CPU time
#include <unistd.h>  // sysconf: the clock ticks of /proc/stat

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "engine/error.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "engine/threads.h"
#include "layers/conv2d.h"
#include "tests/bench/machine.h"

using namespace branchy;
using namespace branchy::bench;

namespace {

// ---------------------------------------------------------------- the shapes

struct ConvShape {
  const char* net;
  const char* layer;
  int in, out, kernel, stride, padding, groups;
  int size;          // input height = width
  bool bias;
  const char* also;  // other layers of this same shape ("" when none)
};

// Read off `branchy info MODEL` for the five networks at their default
// settings on 1x28x28 (block internals from layers/residual.cpp and
// layers/dense.cpp, checked against info's MACs per block). Each distinct
// shape once, labelled by its first occurrence; 1x1 convolutions left out.
const ConvShape conv_shapes[] = {
    {"b-lenet", "stage0.conv1", 1, 5, 5, 1, 3, 1, 28, true, ""},
    {"b-lenet", "branch0.conv", 5, 10, 3, 1, 1, 1, 15, true, ""},
    {"b-lenet", "stage1.conv2", 5, 10, 5, 1, 3, 1, 15, true, ""},
    {"b-lenet", "stage1.conv3", 10, 20, 5, 1, 3, 1, 9, true, ""},
    {"b-alexnet", "stage0.conv1", 1, 32, 5, 1, 2, 1, 28, true, ""},
    {"b-alexnet", "stage0.conv2", 32, 64, 5, 1, 2, 1, 14, true, ""},
    {"b-alexnet", "branch0.conv1", 64, 32, 3, 1, 1, 1, 7, true, ""},
    {"b-alexnet", "branch0.conv2", 32, 32, 3, 1, 1, 1, 7, true, ""},
    {"b-alexnet", "stage1.conv3", 64, 96, 3, 1, 1, 1, 7, true, ""},
    {"b-alexnet", "branch1.conv", 96, 32, 3, 1, 1, 1, 3, true, ""},
    {"b-alexnet", "stage2.conv4", 96, 96, 3, 1, 1, 1, 7, true, ""},
    {"b-alexnet", "stage2.conv5", 96, 64, 3, 1, 1, 1, 7, true, ""},
    {"b-resnet", "stage0.conv", 1, 16, 3, 1, 1, 1, 28, false, "b-resnext stage0.conv, b-densenet stage0.conv0"},
    {"b-resnet", "branch0.conv1", 16, 8, 5, 1, 2, 1, 28, true, ""},
    {"b-resnet", "branch0.conv2", 8, 4, 3, 1, 1, 1, 28, true, ""},
    {"b-resnet", "branch0.conv3", 4, 4, 3, 1, 1, 1, 28, true, ""},
    {"b-resnet", "stage1.block1.conv1", 16, 16, 3, 1, 1, 1, 28, false,
     "b-resnet stage1.block1.conv2, branch1.block.conv1, branch1.block.conv2"},
    {"b-resnet", "stage2.block2.conv1", 16, 32, 3, 2, 1, 1, 28, false, ""},
    {"b-resnet", "stage2.block2.conv2", 32, 32, 3, 1, 1, 1, 14, false, ""},
    {"b-resnet", "stage2.block3.conv1", 32, 64, 3, 2, 1, 1, 14, false, ""},
    {"b-resnet", "stage2.block3.conv2", 64, 64, 3, 1, 1, 1, 7, false, ""},
    {"b-resnext", "branch0.conv1", 16, 16, 3, 1, 1, 1, 28, true, ""},
    {"b-resnext", "branch0.conv2", 16, 16, 3, 1, 1, 1, 14, true, ""},
    {"b-resnext", "stage1.block1.conv2", 16, 16, 3, 1, 1, 4, 28, false, "b-resnext branch1.block.conv2"},
    {"b-resnext", "stage2.block2.conv2", 32, 32, 3, 2, 1, 4, 28, false, ""},
    {"b-resnext", "stage2.block3.conv2", 64, 64, 3, 2, 1, 4, 14, false, ""},
    {"b-densenet", "denseblock1.conv2", 32, 8, 3, 1, 1, 1, 28, false, "b-densenet denseblock1 denselayer2,3 conv2"},
    {"b-densenet", "branch0.conv1", 20, 16, 3, 1, 1, 1, 14, true, ""},
    {"b-densenet", "denseblock2.conv2", 32, 8, 3, 1, 1, 1, 14, false, "b-densenet denseblock2 denselayer2,3 conv2"},
    {"b-densenet", "branch0.conv2", 16, 16, 3, 1, 1, 1, 7, true, "b-densenet branch1.conv2"},
    {"b-densenet", "branch1.conv1", 22, 16, 3, 1, 1, 1, 7, true, ""},
    {"b-densenet", "denseblock3.conv2", 32, 8, 3, 1, 1, 1, 7, false, "b-densenet denseblock3 denselayer2,3 conv2"},
};

constexpr int kBatch = 64;
const int thread_counts[] = {1, 2};

int out_size(const ConvShape& s) { return (s.size + 2 * s.padding - s.kernel) / s.stride + 1; }

int64_t macs(const ConvShape& s) {
  const int64_t o = out_size(s);
  return int64_t{kBatch} * s.out * o * o * (s.in / s.groups) * s.kernel * s.kernel;
}

std::string shape_text(const ConvShape& s) {
  std::string text = std::to_string(s.in) + "->" + std::to_string(s.out) + " k" + std::to_string(s.kernel) + " s" +
                     std::to_string(s.stride) + " p" + std::to_string(s.padding);
  if (s.groups > 1) text += " g" + std::to_string(s.groups);
  if (!s.bias) text += " nobias";
  return text + " @" + std::to_string(s.size);
}

// ---------------------------------------------------------------- timing

// Median seconds per call of each of `calls`, sampled in turn (one sample of
// calls[0], one of calls[1], ...) so that every call sees the same machine.
// A sample is enough back-to-back calls to last ~1 ms, so reading the clock
// costs nothing; sampling stops once `budget` seconds per call have passed
// and every call has at least three samples. The first call of each is a
// warm-up: buffers grow, OpenMP threads wake, caches fill.
std::vector<double> time_in_turns(const std::vector<std::function<void()>>& calls, double budget) {
  std::vector<int> calls_per_sample;
  for (const auto& call : calls) {
    call();
    const Clock::time_point probe = Clock::now();
    call();
    calls_per_sample.push_back(std::max(1, static_cast<int>(1e-3 / std::max(seconds_since(probe), 1e-9))));
  }
  std::vector<std::vector<double>> samples(calls.size());
  const Clock::time_point start = Clock::now();
  const double total_budget = budget * static_cast<double>(calls.size());
  while (samples[0].size() < 3 || (seconds_since(start) < total_budget && samples[0].size() < 5000)) {
    for (size_t i = 0; i < calls.size(); ++i) {
      const Clock::time_point sample_start = Clock::now();
      for (int c = 0; c < calls_per_sample[i]; ++c) calls[i]();
      samples[i].push_back(seconds_since(sample_start) / calls_per_sample[i]);
    }
  }
  std::vector<double> medians;
  for (std::vector<double>& s : samples) {
    std::sort(s.begin(), s.end());
    medians.push_back(s[s.size() / 2]);
  }
  return medians;
}

// CPU seconds used so far: by this process, and by the whole machine
// (/proc/stat, all cores, in clock ticks of 10 ms). Their difference over a
// row is what other processes took while it was timed.
struct CpuSeconds {
  double process = 0, machine = 0;
};

CpuSeconds cpu_seconds() {
  CpuSeconds now;
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  now.process = static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
  std::ifstream stat("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  now.machine = (user + nice + system + irq + softirq + steal) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return now;
}

// Uniform in [-1, 1): no zeros or denormals that could change either side's speed.
Tensor random_tensor(const Shape& shape, Rng& rng) {
  Tensor t = Tensor::uninitialized(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform(-1.0f, 1.0f);
  return t;
}

// ---------------------------------------------------------------- oneDNN

// One convolution shape as oneDNN's three primitives, operands already in
// the layouts each primitive chose. Build it under the thread count it will
// run with: oneDNN's JIT kernels plan their work split at creation.
class OnednnConv {
 public:
  // x (N, C_in, H, W), weight (C_out, C_in/groups, K, K), bias (C_out) or
  // undefined, dy (N, C_out, OH, OW): NCHW user data, only read (copied into
  // oneDNN's layouts), so the caller's tensors need not outlive this object.
  OnednnConv(const ConvShape& s, Tensor x, Tensor weight, Tensor bias, Tensor dy) {
    using dnnl::memory;
    const memory::dim n = kBatch, c = s.in, o = s.out, g = s.groups, k = s.kernel, h = s.size, oh = out_size(s);
    const memory::dims src_dims{n, c, h, h}, dst_dims{n, o, oh, oh};
    // Grouped weights are (G, O/G, C/G, K, K): the same bytes as PyTorch's (O, C/G, K, K).
    const memory::dims weight_dims = g > 1 ? memory::dims{g, o / g, c / g, k, k} : memory::dims{o, c, k, k};
    src_user_ = memory::desc(src_dims, memory::data_type::f32, memory::format_tag::nchw);
    dst_user_ = memory::desc(dst_dims, memory::data_type::f32, memory::format_tag::nchw);
    weight_user_ = memory::desc(weight_dims, memory::data_type::f32,
                                g > 1 ? memory::format_tag::goihw : memory::format_tag::oihw);
    // A zero memory descriptor is oneDNN's "no bias".
    const memory::desc bias_md = s.bias ? memory::desc({o}, memory::data_type::f32, memory::format_tag::x)
                                        : memory::desc();
    auto any = [](const memory::dims& dims) {
      return memory::desc(dims, memory::data_type::f32, memory::format_tag::any);
    };
    const memory::dims strides{s.stride, s.stride}, padding{s.padding, s.padding};
    const auto direct = dnnl::algorithm::convolution_direct;

    const dnnl::convolution_forward::primitive_desc forward_pd(
        {dnnl::prop_kind::forward_training, direct, any(src_dims), any(weight_dims), bias_md, any(dst_dims),
         strides, padding, padding},
        engine_);
    const dnnl::convolution_backward_data::primitive_desc data_pd(
        {direct, any(src_dims), any(weight_dims), any(dst_dims), strides, padding, padding}, engine_, forward_pd);
    const dnnl::convolution_backward_weights::primitive_desc weights_pd(
        {direct, any(src_dims), any(weight_dims), bias_md, any(dst_dims), strides, padding, padding}, engine_,
        forward_pd);
    implementations_ = std::string(forward_pd.impl_info_str()) + " " + data_pd.impl_info_str() + " " +
                       weights_pd.impl_info_str();

    const memory x_user(src_user_, engine_, x.data()), dy_user(dst_user_, engine_, dy.data());
    const memory weight_user(weight_user_, engine_, weight.data());
    forward_ = dnnl::convolution_forward(forward_pd);
    forward_args_ = {{DNNL_ARG_SRC, laid_out(forward_pd.src_desc(), x_user)},
                     {DNNL_ARG_WEIGHTS, laid_out(forward_pd.weights_desc(), weight_user)},
                     {DNNL_ARG_DST, memory(forward_pd.dst_desc(), engine_)}};
    backward_data_ = dnnl::convolution_backward_data(data_pd);
    data_args_ = {{DNNL_ARG_DIFF_DST, laid_out(data_pd.diff_dst_desc(), dy_user)},
                  {DNNL_ARG_WEIGHTS, laid_out(data_pd.weights_desc(), weight_user)},
                  {DNNL_ARG_DIFF_SRC, memory(data_pd.diff_src_desc(), engine_)}};
    backward_weights_ = dnnl::convolution_backward_weights(weights_pd);
    weights_args_ = {{DNNL_ARG_SRC, laid_out(weights_pd.src_desc(), x_user)},
                     {DNNL_ARG_DIFF_DST, laid_out(weights_pd.diff_dst_desc(), dy_user)},
                     {DNNL_ARG_DIFF_WEIGHTS, memory(weights_pd.diff_weights_desc(), engine_)}};
    if (s.bias) {
      forward_args_[DNNL_ARG_BIAS] = laid_out(forward_pd.bias_desc(), memory(bias_md, engine_, bias.data()));
      weights_args_[DNNL_ARG_DIFF_BIAS] = memory(weights_pd.diff_bias_desc(), engine_);
    }
  }

  void forward() { run(forward_, forward_args_); }
  void backward_data() { run(backward_data_, data_args_); }
  void backward_weights() { run(backward_weights_, weights_args_); }

  // The latest results, back in NCHW / (C_out, C_in/groups, K, K) / (C_out),
  // flat, for the check.
  Tensor output() { return to_user(forward_args_.at(DNNL_ARG_DST), dst_user_); }
  Tensor input_grad() { return to_user(data_args_.at(DNNL_ARG_DIFF_SRC), src_user_); }
  Tensor weight_grad() { return to_user(weights_args_.at(DNNL_ARG_DIFF_WEIGHTS), weight_user_); }
  Tensor bias_grad() {  // requires a bias; its layout (x) is the user's already
    const dnnl::memory& d_bias = weights_args_.at(DNNL_ARG_DIFF_BIAS);
    return to_user(d_bias, d_bias.get_desc());
  }
  // The implementations oneDNN chose, "forward data weights" (e.g. "jit:avx512_core ...").
  const std::string& implementations() const { return implementations_; }

 private:
  using Args = std::unordered_map<int, dnnl::memory>;

  void run(dnnl::primitive& primitive, const Args& args) {
    primitive.execute(stream_, args);
    stream_.wait();
  }

  // A copy of `user` in oneDNN's own buffer, in the layout `wanted` (a plain
  // copy when the layouts match, so the caller's tensors may die), made once,
  // outside any timing.
  dnnl::memory laid_out(const dnnl::memory::desc& wanted, dnnl::memory user) {
    dnnl::memory converted(wanted, engine_);
    dnnl::reorder(user, converted).execute(stream_, user, converted);
    stream_.wait();
    return converted;
  }

  // `result` copied into a flat tensor in the layout `user_desc`.
  Tensor to_user(dnnl::memory result, const dnnl::memory::desc& user_desc) {
    Tensor out = Tensor::uninitialized(Shape{static_cast<int64_t>(user_desc.get_size() / sizeof(float))});
    dnnl::memory user(user_desc, engine_, out.data());
    dnnl::reorder(result, user).execute(stream_, result, user);
    stream_.wait();
    return out;
  }

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  dnnl::memory::desc src_user_, dst_user_, weight_user_;  // NCHW / OIHW (GOIHW)
  dnnl::convolution_forward forward_;
  dnnl::convolution_backward_data backward_data_;
  dnnl::convolution_backward_weights backward_weights_;
  Args forward_args_, data_args_, weights_args_;
  std::string implementations_;
};

// ---------------------------------------------------------------- measuring

enum Pass { kForward, kBackwardData, kBackwardWeights, kPasses };
const char* const pass_names[kPasses] = {"fwd", "bwd-data", "bwd-weights"};

struct Measurement {
  const ConvShape* shape = nullptr;
  int threads = 0;
  double ours[kPasses] = {}, onednn[kPasses] = {};  // median seconds per call; ours[kBackwardData] derived
  double ours_full_backward = 0;  // seconds: backward with dx and dW, what bwd-data is taken from
  double others_share = 0;        // CPU time other processes used while timing / (wall time * cores)
  double difference = 0;          // largest relative difference of the two sides' results
  std::string implementations;    // oneDNN's, forward data weights

  // Whether other processes took cores this row's threads needed (5% slack for ticks and daemons).
  bool disturbed() const {
    const double cores = std::thread::hardware_concurrency();
    return others_share > (cores - threads) / cores + 0.05;
  }

  double gflops_ours(Pass p) const { return ours[p] > 0 ? 2.0 * macs(*shape) / ours[p] * 1e-9 : NAN; }
  double gflops_onednn(Pass p) const { return 2.0 * macs(*shape) / onednn[p] * 1e-9; }
  // NaN where ours is not measurable (bwd-data no slower than bwd-weights in the noise).
  double ratio(Pass p) const { return ours[p] > 0 ? onednn[p] / ours[p] : NAN; }
};

// max |a - b| / max |b|: 0 when equal, ~1e-6 for float rounding.
double relative_difference(const Tensor& a, const Tensor& b) {
  BRANCHY_CHECK(a.numel() == b.numel(), "compared tensors differ in size: ", a.numel(), " vs ", b.numel());
  double largest_difference = 0, largest = 1e-30;
  for (int64_t i = 0; i < a.numel(); ++i) {
    largest_difference = std::max(largest_difference, static_cast<double>(std::fabs(a[i] - b[i])));
    largest = std::max(largest, static_cast<double>(std::fabs(b[i])));
  }
  return largest_difference / largest;
}

// Runs both sides once on the same operands and returns the largest relative
// difference of y, dx, dW and db; throws when they disagree (then one side
// computes another convolution and the times would mean nothing).
double compare_results(Conv2d& layer, OnednnConv& theirs, const Tensor& x, const Tensor& dy, const ConvShape& s) {
  const Tensor y = layer.forward(x, Mode::train);  // (N, C_out, OH, OW)
  layer.zero_grad();
  const Tensor dx = layer.backward(dy);            // (N, C_in, H, W)
  theirs.forward();
  theirs.backward_data();
  theirs.backward_weights();
  double worst = std::max({relative_difference(y, theirs.output()), relative_difference(dx, theirs.input_grad()),
                           relative_difference(layer.weight.grad, theirs.weight_grad())});
  if (s.bias) worst = std::max(worst, relative_difference(layer.bias.grad, theirs.bias_grad()));
  BRANCHY_CHECK(worst < 1e-3, "branchy and oneDNN disagree on ", s.net, " ", s.layer, " (", shape_text(s),
                "): relative difference ", worst);
  return worst;
}

Measurement measure(const ConvShape& s, int threads, double budget) {
  ThreadCountScope scope(threads);  // branchy's count and OpenMP's, which oneDNN reads
  Rng rng(2024);
  const Conv2dOptions options{s.stride, s.padding, s.groups, s.bias};
  Conv2d layer(s.in, s.out, s.kernel, options, rng);         // forward, and backward with dx
  Conv2d weights_only(s.in, s.out, s.kernel, options, rng);  // backward without dx
  weights_only.set_needs_input_grad(false);
  const Tensor x = random_tensor(Shape{kBatch, s.in, s.size, s.size}, rng);                // (N, C_in, H, W)
  const Tensor dy = random_tensor(Shape{kBatch, s.out, out_size(s), out_size(s)}, rng);   // (N, C_out, OH, OW)
  OnednnConv theirs(s, x, layer.weight.value, s.bias ? layer.bias.value : Tensor(), dy);

  Measurement m;
  m.shape = &s;
  m.threads = threads;
  m.implementations = theirs.implementations();
  m.difference = compare_results(layer, theirs, x, dy, s);

  // Our gradients accumulate over the repetitions (oneDNN's are overwritten):
  // the same work either way, so no zero_grad inside the timing. The CPU
  // clocks tell whether others shared the machine: a busy machine inflates
  // both peers' times, the more so at 2 threads on 2 cores, where a team
  // waits for its slowest thread.
  const CpuSeconds cpu_start = cpu_seconds();
  const Clock::time_point wall_start = Clock::now();
  const std::vector<double> forward = time_in_turns(
      {[&] { (void)layer.forward(x, Mode::train); }, [&] { theirs.forward(); }}, budget);
  (void)layer.forward(x, Mode::train);  // the state both backward variants read
  (void)weights_only.forward(x, Mode::train);
  const std::vector<double> backward = time_in_turns({[&] { (void)weights_only.backward(dy); },
                                                      [&] { theirs.backward_weights(); },
                                                      [&] { (void)layer.backward(dy); },
                                                      [&] { theirs.backward_data(); }},
                                                     budget);
  m.ours[kForward] = forward[0];
  m.onednn[kForward] = forward[1];
  m.ours[kBackwardWeights] = backward[0];
  m.onednn[kBackwardWeights] = backward[1];
  m.ours_full_backward = backward[2];
  m.ours[kBackwardData] = backward[2] - backward[0];
  m.onednn[kBackwardData] = backward[3];
  const CpuSeconds cpu_end = cpu_seconds();
  const double others = (cpu_end.machine - cpu_start.machine) - (cpu_end.process - cpu_start.process);
  m.others_share = std::max(0.0, others) / (seconds_since(wall_start) * std::thread::hardware_concurrency());
  return m;
}

// ---------------------------------------------------------------- reporting

void print_header(double budget) {
  const dnnl::version_t* v = dnnl::version();
  std::printf("machine   %s, %u logical cores; load average %s\n", cpu_model().c_str(),
              std::thread::hardware_concurrency(), load_average().c_str());
  std::printf("oneDNN    %d.%d.%d (%s), CPU runtime %s; branchy built with g++ %s\n", v->major, v->minor, v->patch,
              v->hash, v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "not OpenMP", __VERSION__);
  std::printf("batch %d; median of samples over ~%.2f s per call, ours and oneDNN sampled in turn\n", kBatch,
              budget);
  std::printf("GF/s = 2*MACs / median time, MACs = N*C_out*OH*OW*(C_in/groups)*K*K; ratio = ours/oneDNN (>1: "
              "branchy faster)\n");
  std::printf("ours bwd-data = backward with dx MINUS backward without dx (weights only); oneDNN: its own "
              "primitives,\n  blocked layouts chosen by oneDNN, reorders outside the timing. Last column: "
              "oneDNN's implementations (fwd bwd-data bwd-weights).\n");
  std::printf("shape: C_in->C_out kernel stride padding [groups] [nobias] @input side\n");
  std::printf("busy%% = CPU time other processes used while the row was timed, share of all cores (10 ms ticks);\n"
              "  '!' where they took cores the row needed (more than the cores it left free): its times are\n"
              "  inflated, both peers', and its ratios (bwd-data above all, a difference of two times) are noise\n\n");
  std::printf("%-10s %-19s %-29s %3s %5s | %21s | %21s | %21s | %s\n", "net", "layer", "shape", "thr", "busy%",
              "fwd GF/s ours/oDNN", "bwd-data ours/oDNN", "bwd-wgt ours/oDNN", "oneDNN impl");
}

void print_row(const Measurement& m) {
  std::printf("%-10s %-19s %-29s %3d %4.0f%c", m.shape->net, m.shape->layer, shape_text(*m.shape).c_str(),
              m.threads, 100 * m.others_share, m.disturbed() ? '!' : ' ');
  for (int p = 0; p < kPasses; ++p) {
    const Pass pass = static_cast<Pass>(p);
    if (std::isnan(m.ratio(pass)))
      std::printf(" | %6s %6.1f %6s ", "n/a", m.gflops_onednn(pass), "n/a");
    else
      std::printf(" | %6.1f %6.1f %6.2f ", m.gflops_ours(pass), m.gflops_onednn(pass), m.ratio(pass));
  }
  std::printf(" | %s\n", m.implementations.c_str());
  std::fflush(stdout);
}

// Per thread count and pass: the geometric mean of the ratios over the
// shapes and the smallest one (branchy's worst shape against oneDNN).
void print_summary(const std::vector<Measurement>& all) {
  std::printf("\nsummary: ratio = ours/oneDNN GFLOP/s over the shapes above (busy!: how many are marked '!')\n");
  std::printf("%3s %-12s %6s %5s %8s  %s\n", "thr", "pass", "shapes", "busy!", "geomean", "smallest (shape)");
  for (int threads : thread_counts) {
    for (int p = 0; p < kPasses; ++p) {
      const Pass pass = static_cast<Pass>(p);
      double log_sum = 0;
      int count = 0, missing = 0, disturbed = 0;
      const Measurement* smallest = nullptr;
      for (const Measurement& m : all) {
        if (m.threads != threads) continue;
        if (std::isnan(m.ratio(pass))) {
          ++missing;
          continue;
        }
        log_sum += std::log(m.ratio(pass));
        ++count;
        disturbed += m.disturbed();
        if (!smallest || m.ratio(pass) < smallest->ratio(pass)) smallest = &m;
      }
      if (count == 0) continue;
      std::printf("%3d %-12s %6d %5d %8.2f  %.2f (%s %s, %s)", threads, pass_names[p], count, disturbed,
                  std::exp(log_sum / count), smallest->ratio(pass), smallest->shape->net, smallest->shape->layer,
                  shape_text(*smallest->shape).c_str());
      if (missing) std::printf("; %d shape(s) n/a", missing);
      std::printf("\n");
    }
  }
}

const char* csv_header =
    "net,layer,also,shape,threads,pass,macs,ours_s,onednn_s,ours_gflops,onednn_gflops,ratio,"
    "ours_full_backward_s,others_cpu_share,relative_difference,onednn_implementations";

void write_csv_rows(std::ofstream& csv, const Measurement& m) {
  for (int p = 0; p < kPasses; ++p) {
    const Pass pass = static_cast<Pass>(p);
    csv << m.shape->net << ',' << m.shape->layer << ",\"" << m.shape->also << "\",\"" << shape_text(*m.shape)
        << "\"," << m.threads << ',' << pass_names[p] << ',' << macs(*m.shape) << ',' << m.ours[p] << ','
        << m.onednn[p] << ',' << m.gflops_ours(pass) << ',' << m.gflops_onednn(pass) << ',' << m.ratio(pass) << ',';
    if (pass == kBackwardData) csv << m.ours_full_backward;
    csv << ',' << m.others_share << ',' << m.difference << ",\"" << m.implementations << "\"\n";
  }
  csv.flush();
}

// ---------------------------------------------------------------- main

struct Options {
  bool quick = false;
  std::string csv_path;  // empty: no CSV
  std::string only;      // empty: every shape
};

bool selected(const Options& options, const ConvShape& s) {
  return (std::string(s.net) + " " + s.layer + " " + s.also).find(options.only) != std::string::npos;
}

const char* usage = "usage: bench_conv_vs_onednn [--quick] [--csv FILE] [--only TEXT]";

// Returns false (after one line on stderr) for a flag it does not know;
// --help prints the usage and exits 0.
bool parse_options(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf("%s\n", usage);
      std::exit(0);
    } else if (arg == "--quick") {
      options.quick = true;
    } else if (arg == "--csv" && i + 1 < argc) {
      options.csv_path = argv[++i];
    } else if (arg == "--only" && i + 1 < argc) {
      options.only = argv[++i];
    } else {
      const bool missing_value = arg == "--csv" || arg == "--only";
      std::fprintf(stderr, "bench_conv_vs_onednn: %s '%s'; %s\n",
                   missing_value ? "missing value after" : "unknown flag", arg.c_str(), usage);
      return false;
    }
  }
  return true;
}

void run(const Options& options) {
  const double budget = options.quick ? 0.03 : 0.2;  // seconds per call and pass
  std::ofstream csv;
  if (!options.csv_path.empty()) {
    csv.open(options.csv_path);
    BRANCHY_CHECK(csv.good(), "bench_conv_vs_onednn: cannot write CSV file '", options.csv_path, "'");
    csv << csv_header << '\n';
  }
  const bool any_selected = std::any_of(std::begin(conv_shapes), std::end(conv_shapes),
                                        [&](const ConvShape& s) { return selected(options, s); });
  BRANCHY_CHECK(any_selected, "bench_conv_vs_onednn: no shape matches --only '", options.only, "'");
  const Clock::time_point start = Clock::now();
  print_header(budget);
  std::vector<Measurement> all;
  double worst_difference = 0;
  for (const ConvShape& s : conv_shapes) {
    if (!selected(options, s)) continue;
    for (int threads : thread_counts) {
      all.push_back(measure(s, threads, budget));
      worst_difference = std::max(worst_difference, all.back().difference);
      print_row(all.back());
      if (csv.is_open()) write_csv_rows(csv, all.back());
    }
  }
  print_summary(all);
  std::printf("\n");
  for (const ConvShape& s : conv_shapes)
    if (selected(options, s) && *s.also) std::printf("same shape: %s %s, also %s\n", s.net, s.layer, s.also);
  std::printf("results agree: largest relative difference %.1e (y, dx, dW, db); load average at end %s; %.0f s\n",
              worst_difference, load_average().c_str(), seconds_since(start));
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse_options(argc, argv, options)) return 2;
  try {
    run(options);
  } catch (const std::exception& e) {  // branchy::Error and dnnl::error alike
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
