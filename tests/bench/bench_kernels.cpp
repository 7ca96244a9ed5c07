// bench_kernels.cpp — `make bench`: how fast Conv2d and Linear run on the
// shapes the networks use, read against cblas_sgemm doing the same arithmetic.
//
// For every shape, batch (64: a training step, 1: inference latency) and
// thread count (1, 2) it times the layer's forward (eval mode) and backward
// (after one train-mode forward), and then the sgemm calls that do the same
// multiply-adds on ready-made operands: no im2col/col2im, no bias, no split
// per image. That is the GEMM a convolution "is", so
//
//   GFLOP/s = 2 * multiply-adds / time   (backward: two GEMMs, 4 * MACs)
//   ratio   = layer GFLOP/s / sgemm GFLOP/s at the same M, N, K and threads
//   %peak   = layer GFLOP/s / a 1024^3 sgemm's GFLOP/s at the same threads
//
// all measured in this one run, side by side, so a busy machine slows both
// sides roughly alike. Each time is the median over samples filling ~0.2 s.
// Nothing is asserted: the numbers are for reading (docs/BENCHMARKS.md).
//
// For convolutions it also times the layer's own per-image GEMMs with im2col
// left out ("1img"), which splits the gap to sgemm in two: im2col and bias
// (layer vs 1img) and many small GEMMs instead of one big one (1img vs sgemm).
//
// Usage: bench_kernels [--quick] [--csv FILE] [--only TEXT]. --quick cuts each
// measurement to ~0.02 s; --only keeps the shapes whose net or layer name
// contains TEXT. An unknown flag prints one error line and exits 2; a CSV
// file that cannot be written exits 1.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "engine/blas.h"
#include "engine/error.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "engine/threads.h"
#include "engine/conv_direct.h"
#include "engine/im2col.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "nets/registry.h"
#include "predictors/predictor.h"
#include "tests/bench/machine.h"

extern "C" char* openblas_get_config(void);
extern "C" char* openblas_get_corename(void);
extern "C" void openblas_set_num_threads(int num_threads);

using namespace branchy;
using namespace branchy::bench;

namespace {

// ---------------------------------------------------------------- the shapes

struct ConvShape {
  const char* net;
  const char* layer;
  int in, out, kernel, stride, padding, groups;
  int size;  // input height = width
  bool bias;
};

// B-LeNet on 1×28×28 (BranchyNet's networks/lenet_mnist.py, pooling in ceil
// mode: 30 -> 15, 17 -> 9). B-AlexNet on 3×32×32 (networks/alex_cifar10.py:
// max-pool 3/2 in ceil mode takes 32 -> 16 -> 8 -> 4; branch 0 pools 16 -> 8,
// branch 1 pools 8 -> 4). CIFAR ResNet stages of 16/32/64 channels, convs
// followed by batch-norm so without bias. ResNeXt's grouped 3×3 (cardinality
// 8 and 4) and a 1×1 expansion, which skips im2col.
const ConvShape conv_shapes[] = {
    {"B-LeNet", "conv1", 1, 5, 5, 1, 3, 1, 28, true},
    {"B-LeNet", "branch0 conv", 5, 10, 3, 1, 1, 1, 15, true},
    {"B-LeNet", "conv2", 5, 10, 5, 1, 3, 1, 15, true},
    {"B-LeNet", "conv3", 10, 20, 5, 1, 3, 1, 9, true},
    {"B-AlexNet", "conv1", 3, 32, 5, 1, 2, 1, 32, true},
    {"B-AlexNet", "conv2", 32, 64, 5, 1, 2, 1, 16, true},
    {"B-AlexNet", "conv3", 64, 96, 3, 1, 1, 1, 8, true},
    {"B-AlexNet", "conv4", 96, 96, 3, 1, 1, 1, 8, true},
    {"B-AlexNet", "conv5", 96, 64, 3, 1, 1, 1, 8, true},
    {"B-AlexNet", "branch0 conv1", 64, 32, 3, 1, 1, 1, 8, true},
    {"B-AlexNet", "branch1 conv", 96, 32, 3, 1, 1, 1, 4, true},
    {"ResNet", "stem", 3, 16, 3, 1, 1, 1, 32, false},
    {"ResNet", "stage1 3x3", 16, 16, 3, 1, 1, 1, 32, false},
    {"ResNet", "down 3x3 s2", 16, 32, 3, 2, 1, 1, 32, false},
    {"ResNet", "proj 1x1 s2", 16, 32, 1, 2, 0, 1, 32, false},
    {"ResNet", "stage2 3x3", 32, 32, 3, 1, 1, 1, 16, false},
    {"ResNet", "stage3 3x3", 64, 64, 3, 1, 1, 1, 8, false},
    {"ResNeXt", "3x3 g8", 32, 32, 3, 1, 1, 8, 16, false},
    {"ResNeXt", "3x3 g8", 64, 64, 3, 1, 1, 8, 8, false},
    {"ResNeXt", "3x3 g4", 64, 64, 3, 1, 1, 4, 8, false},
    {"ResNeXt", "1x1 expand", 64, 128, 1, 1, 0, 1, 8, false},
};

struct LinearShape {
  const char* net;
  const char* layer;
  int in, out;
};

const LinearShape linear_shapes[] = {
    {"B-LeNet", "fc1", 720, 84},        {"B-LeNet", "branch0 fc", 640, 10},
    {"B-AlexNet", "fc1", 1024, 256},    {"B-AlexNet", "fc2", 256, 128},
    {"ResNet", "fc after gap", 64, 10}, {"ResNet", "fc after pool6", 576, 10},
    {"predictor", "fc1", 576, 128},
};

const int batch_sizes[] = {64, 1};
const int thread_counts[] = {1, 2};

// ---------------------------------------------------------------- timing

struct Timing {
  double median = 0, best = 0;  // seconds per call
};

// Times `call` in samples of enough calls to last ~1 ms each (so reading the
// clock costs nothing), until `budget` seconds have passed and at least three
// samples are in. The first call is a warm-up: scratch buffers grow, OpenMP
// threads wake, caches fill.
Timing time_calls(const std::function<void()>& call, double budget) {
  call();
  const Clock::time_point probe = Clock::now();
  call();
  const double one_call = std::max(seconds_since(probe), 1e-9);
  const int calls_per_sample = std::max(1, static_cast<int>(1e-3 / one_call));
  std::vector<double> samples;
  const Clock::time_point start = Clock::now();
  while (samples.size() < 3 || (seconds_since(start) < budget && samples.size() < 2000)) {
    const Clock::time_point sample_start = Clock::now();
    for (int i = 0; i < calls_per_sample; ++i) call();
    samples.push_back(seconds_since(sample_start) / calls_per_sample);
  }
  std::sort(samples.begin(), samples.end());
  return Timing{samples[samples.size() / 2], samples.front()};
}

double gflops(double flops, double seconds) { return flops / seconds * 1e-9; }

// ---------------------------------------------------------------- operands

// Uniform in [-1, 1): values do not change sgemm's speed, but zeros or
// denormals could, so no operand is left at 0. Tensors, not std::vector, so
// the reference's operands are 64-byte aligned like the layer's.
Tensor random_tensor(const Shape& shape, Rng& rng) {
  Tensor t = Tensor::uninitialized(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform(-1.0f, 1.0f);
  return t;
}

Tensor random_floats(int64_t count, Rng& rng) { return random_tensor(Shape{count}, rng); }

// A convolution's multiply-adds as sgemm calls on ready-made operands: per
// group, W (outs, rows) * columns (rows, cols) with outs = C_out/groups,
// rows = C_in/groups*K*K and cols = batch*OH*OW: one GEMM over the whole
// batch, what the layer would cost if im2col, col2im and bias were free.
class ConvAsGemm {
 public:
  ConvAsGemm(const ConvShape& s, int batch, Rng& rng) : batch_(batch), groups_(s.groups) {
    const int out_size = (s.size + 2 * s.padding - s.kernel) / s.stride + 1;
    outs_ = s.out / s.groups;
    rows_ = s.in / s.groups * s.kernel * s.kernel;
    image_cols_ = out_size * out_size;
    cols_ = batch * image_cols_;
    weight_ = random_floats(int64_t{groups_} * outs_ * rows_, rng);    // (C_out, rows)
    columns_ = random_floats(int64_t{groups_} * rows_ * cols_, rng);   // (groups*rows, cols)
    output_ = random_floats(int64_t{groups_} * outs_ * cols_, rng);    // (C_out, cols), also dy
    d_weight_ = random_floats(weight_.numel(), rng);                   // (C_out, rows)
    d_columns_ = random_floats(columns_.numel(), rng);                 // (groups*rows, cols)
  }

  void forward() {
    for (int g = 0; g < groups_; ++g)
      // y_g (outs, cols) = W_g (outs, rows) * columns_g (rows, cols)
      gemm_parallel(false, false, outs_, cols_, rows_, 1.0f, weight(g), rows_, columns(g), cols_, 0.0f,
                    output(g), cols_);
  }

  // The layer's own forward GEMMs, im2col left out: one GEMM per image and
  // group (N = OH*OW) on a column matrix already in place, images spread over
  // threads as Conv2d spreads them. Layer vs this: the cost of im2col, bias and
  // bookkeeping. This vs forward(): the cost of many small GEMMs over one big one.
  void forward_per_image() {
    const int threads = num_threads();
    const int64_t image_columns = int64_t{groups_} * rows_ * image_cols_;  // (groups*rows, OH*OW)
    const int64_t image_output = int64_t{groups_} * outs_ * image_cols_;   // (C_out, OH*OW)
    const int64_t macs = int64_t{groups_} * outs_ * rows_ * cols_;
    if (batch_ >= threads && worth_parallel(macs)) {
#pragma omp parallel for num_threads(threads) schedule(static)
      for (int n = 0; n < batch_; ++n)
        multiply_image(columns_.data() + omp_get_thread_num() * image_columns, output_.data() + n * image_output,
                       false);
    } else {
      for (int n = 0; n < batch_; ++n) multiply_image(columns_.data(), output_.data() + n * image_output, true);
    }
  }

  void backward() {
    for (int g = 0; g < groups_; ++g) {
      // dW_g (outs, rows) += dy_g (outs, cols) * columns_g^T (cols, rows)
      gemm_parallel(false, true, outs_, rows_, cols_, 1.0f, output(g), cols_, columns(g), cols_, 1.0f,
                    d_weight_.data() + offset(g, outs_, rows_), rows_);
      // d_columns_g (rows, cols) = W_g^T (rows, outs) * dy_g (outs, cols)
      gemm_parallel(true, false, rows_, cols_, outs_, 1.0f, weight(g), rows_, output(g), cols_, 0.0f,
                    d_columns_.data() + offset(g, rows_, cols_), cols_);
    }
  }

 private:
  static int64_t offset(int group, int height, int width) { return int64_t{group} * height * width; }
  float* weight(int g) { return weight_.data() + offset(g, outs_, rows_); }
  float* columns(int g) { return columns_.data() + offset(g, rows_, cols_); }
  float* output(int g) { return output_.data() + offset(g, outs_, cols_); }

  // image_columns (groups*rows, OH*OW) -> image_output (C_out, OH*OW), group by group.
  void multiply_image(const float* image_columns, float* image_output, bool parallel_gemm) {
    for (int g = 0; g < groups_; ++g) {
      const float* w = weight(g);
      const float* x = image_columns + offset(g, rows_, image_cols_);
      float* y = image_output + offset(g, outs_, image_cols_);
      if (parallel_gemm)
        gemm_parallel(false, false, outs_, image_cols_, rows_, 1.0f, w, rows_, x, image_cols_, 0.0f, y, image_cols_);
      else
        gemm(false, false, outs_, image_cols_, rows_, 1.0f, w, rows_, x, image_cols_, 0.0f, y, image_cols_);
    }
  }

  int batch_, groups_, outs_ = 0, rows_ = 0, image_cols_ = 0, cols_ = 0;
  Tensor weight_, columns_, output_, d_weight_, d_columns_;
};

// A linear layer's multiply-adds: exactly the sgemm calls Linear makes, so
// its ratio shows only the layer's own overhead (bias, output allocation).
class LinearAsGemm {
 public:
  LinearAsGemm(const LinearShape& s, int batch, Rng& rng)
      : batch_(batch), in_(s.in), out_(s.out),
        x_(random_floats(int64_t{batch} * s.in, rng)),          // (N, F_in)
        weight_(random_floats(int64_t{s.out} * s.in, rng)),     // (F_out, F_in)
        y_(random_floats(int64_t{batch} * s.out, rng)),         // (N, F_out), also dy
        dx_(random_floats(x_.numel(), rng)),                    // (N, F_in)
        d_weight_(random_floats(weight_.numel(), rng)) {}       // (F_out, F_in)

  void forward() {
    // y (N, F_out) = x (N, F_in) * W^T (F_in, F_out)
    gemm_parallel(false, true, batch_, out_, in_, 1.0f, x_.data(), in_, weight_.data(), in_, 0.0f, y_.data(),
                  out_);
  }

  void backward() {
    // dx (N, F_in) = dy (N, F_out) * W (F_out, F_in)
    gemm_parallel(false, false, batch_, in_, out_, 1.0f, y_.data(), out_, weight_.data(), in_, 0.0f,
                  dx_.data(), in_);
    // dW (F_out, F_in) += dy^T (F_out, N) * x (N, F_in)
    gemm_parallel(true, false, out_, in_, batch_, 1.0f, y_.data(), out_, x_.data(), in_, 1.0f,
                  d_weight_.data(), in_);
  }

 private:
  int batch_, in_, out_;
  Tensor x_, weight_, y_, dx_, d_weight_;
};

// ---------------------------------------------------------------- measuring

struct Measurement {
  std::string net, layer, shape;  // shape: "16->32 k3 s2 p1 nobias @32x32"
  int batch = 0, threads = 0;
  int64_t macs = 0;  // forward multiply-adds over the whole batch
  Timing forward, forward_gemm, backward, backward_gemm;
  bool has_per_image = false;  // convolutions only
  Timing forward_gemm_per_image;
};

// Times the layer's forward (eval) and backward (after one train-mode
// forward), each followed at once by its sgemm twin.
template <typename Reference>
Measurement measure(Layer& layer, const Tensor& x, Reference& reference, double budget, Rng& rng) {
  Measurement m;
  m.macs = layer.macs(x.shape());
  const Tensor dy = random_tensor(layer.out_shape(x.shape()), rng);
  m.forward = time_calls([&] { (void)layer.forward(x, Mode::eval); }, budget);
  m.forward_gemm = time_calls([&] { reference.forward(); }, budget);
  if constexpr (std::is_same_v<Reference, ConvAsGemm>) {
    m.has_per_image = true;
    m.forward_gemm_per_image = time_calls([&] { reference.forward_per_image(); }, budget);
  }
  (void)layer.forward(x, Mode::train);
  m.backward = time_calls([&] { (void)layer.backward(dy); }, budget);
  m.backward_gemm = time_calls([&] { reference.backward(); }, budget);
  return m;
}

// "conv 16->32 k3 s1 p1" -> "16->32 k3 s1 p1": the kind is in the net/layer columns.
std::string without_kind(const std::string& description) {
  return description.substr(description.find(' ') + 1);
}

// ---------------------------------------------------------------- reporting

struct Peak {
  double gflops[3] = {0, 0, 0};  // by thread count 1, 2 (gemm, gemm_parallel)
  double openblas_threads_gflops = 0;  // 2 threads inside OpenBLAS, for comparison only
};

std::string simd_flags() {
  std::istringstream flags(first_line_with("/proc/cpuinfo", "flags"));
  std::string flag, found;
  while (flags >> flag)
    if (flag == "avx2" || flag == "fma" || flag == "avx512f" || flag == "avx512_vnni") found += " " + flag;
  return found.empty() ? " (none of avx2/fma/avx512f)" : found;
}

// A 1024^3 sgemm: the most this machine's OpenBLAS gives at each thread count.
Peak measure_peak(double budget, Rng& rng) {
  const int n = 1024;
  const double flops = 2.0 * n * n * n;
  Tensor a = random_floats(int64_t{n} * n, rng), b = random_floats(int64_t{n} * n, rng),
         c = random_floats(int64_t{n} * n, rng);
  Peak peak;
  for (int threads : thread_counts) {
    ThreadCountScope scope(threads);
    const Timing t = time_calls(
        [&] { gemm_parallel(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n); },
        budget);
    peak.gflops[threads] = gflops(flops, t.median);
  }
  // OpenBLAS threading itself, which the engine never uses (threads.h): shown
  // so a reader sees what gemm_parallel's OpenMP split costs or gains.
  {
    ThreadCountScope one(1);
    openblas_set_num_threads(2);
    const Timing t = time_calls(
        [&] { gemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n); }, budget);
    peak.openblas_threads_gflops = gflops(flops, t.median);
  }  // leaving the scope pins OpenBLAS back to one thread
  return peak;
}

void print_machine(const Peak& peak) {
  std::printf("machine   %s, %u logical cores,%s\n", cpu_model().c_str(), std::thread::hardware_concurrency(),
              simd_flags().c_str());
  std::printf("OpenBLAS  %s (core %s)\n", openblas_get_config(), openblas_get_corename());
  std::printf("compiler  g++ %s\n", __VERSION__);
  std::printf("sgemm 1024^3 peak: 1 thread %.1f GFLOP/s, 2 threads (gemm_parallel) %.1f GFLOP/s, "
              "2 threads (OpenBLAS's own) %.1f GFLOP/s\n",
              peak.gflops[1], peak.gflops[2], peak.openblas_threads_gflops);
  std::printf("columns   MFLOP = 2*MACs of one forward over the batch; us = median microseconds per call;\n"
              "          GF/s = the layer; sgemm = the same multiply-adds as one sgemm per group over the batch\n"
              "          (M = C_out/groups, N = batch*OH*OW, K = C_in/groups*k*k; linear: the layer's own calls);\n"
              "          1img = the layer's per-image sgemm calls without im2col; ratio = layer/sgemm;\n"
              "          %%pk = layer/(1024^3 sgemm at the same threads)\n");
}

void print_header(int batch) {
  std::printf("\n== batch %d (%s) ==\n", batch, batch > 1 ? "training step" : "inference latency");
  std::printf("%-9s %-14s %-32s %3s %8s | %9s %6s %6s %6s %5s %3s | %9s %6s %6s %5s %3s\n", "net", "layer",
              "shape", "thr", "MFLOP", "fwd us", "GF/s", "sgemm", "1img", "ratio", "%pk", "bwd us", "GF/s", "sgemm",
              "ratio", "%pk");
}

void print_row(const Measurement& m, const Peak& peak) {
  const double forward_flops = 2.0 * m.macs, backward_flops = 4.0 * m.macs;
  const double fwd = gflops(forward_flops, m.forward.median), fwd_gemm = gflops(forward_flops, m.forward_gemm.median);
  const double bwd = gflops(backward_flops, m.backward.median);
  const double bwd_gemm = gflops(backward_flops, m.backward_gemm.median);
  const double top = peak.gflops[m.threads];
  char per_image[16] = "     -";
  if (m.has_per_image)
    std::snprintf(per_image, sizeof per_image, "%6.1f", gflops(forward_flops, m.forward_gemm_per_image.median));
  std::printf("%-9s %-14s %-32s %3d %8.2f | %9.1f %6.1f %6.1f %s %5.2f %3.0f | %9.1f %6.1f %6.1f %5.2f %3.0f\n",
              m.net.c_str(), m.layer.c_str(), m.shape.c_str(), m.threads, forward_flops * 1e-6,
              m.forward.median * 1e6, fwd, fwd_gemm, per_image, fwd / fwd_gemm, 100 * fwd / top,
              m.backward.median * 1e6, bwd, bwd_gemm, bwd / bwd_gemm, 100 * bwd / top);
  std::fflush(stdout);
}

const char* csv_header =
    "net,layer,shape,batch,threads,macs,forward_median_s,forward_best_s,forward_gemm_median_s,"
    "forward_gemm_best_s,forward_per_image_gemm_median_s,forward_per_image_gemm_best_s,backward_median_s,backward_best_s,backward_gemm_median_s,backward_gemm_best_s,"
    "forward_gflops,forward_ratio,backward_gflops,backward_ratio,peak_gflops";

void write_csv_row(std::ofstream& csv, const Measurement& m, const Peak& peak) {
  const double fwd = gflops(2.0 * m.macs, m.forward.median), bwd = gflops(4.0 * m.macs, m.backward.median);
  csv << m.net << ',' << m.layer << ",\"" << m.shape << "\"," << m.batch << ',' << m.threads << ',' << m.macs
      << ',' << m.forward.median << ',' << m.forward.best << ',' << m.forward_gemm.median << ','
      << m.forward_gemm.best << ',';
  if (m.has_per_image)
    csv << m.forward_gemm_per_image.median << ',' << m.forward_gemm_per_image.best << ',';
  else
    csv << ",,";  // a linear layer has no per-image GEMM
  csv << m.backward.median << ',' << m.backward.best << ',' << m.backward_gemm.median << ',' << m.backward_gemm.best << ',' << fwd << ','
      << m.forward_gemm.median / m.forward.median << ',' << bwd << ','
      << m.backward_gemm.median / m.backward.median << ',' << peak.gflops[m.threads] << '\n';
  csv.flush();
}

// ---------------------------------------------------------------- main

struct Options {
  bool quick = false;
  std::string csv_path;  // empty: no CSV
  std::string only;      // empty: every shape
  bool paths_only = false;  // only the inference-path comparison
};

bool selected(const Options& options, const char* net, const char* layer) {
  return (std::string(net) + " " + layer).find(options.only) != std::string::npos;
}

const char* usage = "usage: bench_kernels [--quick] [--csv FILE] [--only TEXT] [--paths]";

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
    } else if (arg == "--paths") {
      options.paths_only = true;
    } else if (arg == "--csv" && i + 1 < argc) {
      options.csv_path = argv[++i];
    } else if (arg.rfind("--csv=", 0) == 0 && arg.size() > 6) {
      options.csv_path = arg.substr(6);
    } else if (arg == "--only" && i + 1 < argc) {
      options.only = argv[++i];
    } else {
      const bool missing_value = arg == "--csv" || arg == "--only";
      std::fprintf(stderr, "bench_kernels: %s '%s'; %s\n", missing_value ? "missing value after" : "unknown flag",
                   arg.c_str(), usage);
      return false;
    }
  }
  return true;
}

// Inference at batch 1 on one thread: the two ways Conv2d can run a stride-1
// convolution, timed side by side, and which one direct_conv_pays() picks.
// This table is what the rule is tuned on.
void compare_inference_paths(const Options& options, double budget, Rng& rng) {
  ThreadCountScope one(1);
  std::printf("\ninference convs, batch 1, 1 thread: shifted-row direct vs im2col + sgemm (GMAC/s)\n");
  std::printf("%-10s %-14s %-26s %10s %8s %8s %7s  %s\n", "net", "layer", "shape", "MACs", "direct", "im2col",
              "ratio", "rule picks");
  for (const ConvShape& s : conv_shapes) {
    if (s.stride != 1 || s.groups != 1 || s.kernel == 1 || !selected(options, s.net, s.layer)) continue;
    const ConvGeometry g{s.in, s.size, s.size, s.kernel, s.kernel, 1, 1, s.padding, s.padding};
    const int rows = static_cast<int>(g.column_rows()), cols = static_cast<int>(g.column_cols());
    const Tensor image = random_floats(int64_t{s.in} * s.size * s.size, rng);
    const Tensor weight = random_floats(int64_t{s.out} * rows, rng);  // (O, C*K*K)
    const Tensor bias = random_floats(s.out, rng);
    Tensor out = Tensor::uninitialized(Shape{int64_t{s.out} * cols});
    Tensor columns = Tensor::uninitialized(Shape{int64_t{rows} * cols});
    const double macs = static_cast<double>(s.out) * rows * cols;
    const Timing direct = time_calls(
        [&] { conv2d_direct_stride1(image.data(), g, weight.data(), bias.data(), s.out, out.data()); }, budget);
    const Timing unrolled = time_calls(
        [&] {
          im2col(image.data(), g, columns.data());
          gemm(false, false, s.out, cols, rows, 1.0f, weight.data(), rows, columns.data(), cols, 0.0f, out.data(),
               cols);
        },
        budget);
    const std::string shape = std::to_string(s.in) + "->" + std::to_string(s.out) + " k" + std::to_string(s.kernel) +
                              " p" + std::to_string(s.padding) + " @" + std::to_string(s.size) + "x" +
                              std::to_string(s.size);
    std::printf("%-10s %-14s %-26s %10.0f %8.2f %8.2f %6.2fx  %s\n", s.net, s.layer, shape.c_str(), macs,
                gflops(macs, direct.median), gflops(macs, unrolled.median), unrolled.median / direct.median,
                direct_conv_pays(g, s.out, s.groups) ? "direct" : "im2col");
  }
}

// Routing overhead at its source: one predictor call at batch 1 (the
// features of h_0 and the head), beside the bare path it sits on, b-lenet's
// stage 0 and branch 0 at batch 1: how much a predicted route costs above
// BranchyNet's (docs/BENCHMARKS.md, "Routing overhead").
void time_predictor_calls(double budget, Rng& rng) {
  ThreadCountScope one(1);
  auto net = rebuild_network("b-lenet", Json::object());
  const Tensor image = random_tensor(Shape{1, 1, 28, 28}, rng);
  const Tensor h0 = net->stage(0).forward(image, Mode::eval);  // (1, 5, 30, 30)
  const Timing path = time_calls(
      [&] {
        const Tensor h = net->stage(0).forward(image, Mode::eval);
        (void)net->branch(0).forward(h, Mode::eval);
      },
      budget);
  std::printf("\npredictor calls, batch 1, 1 thread, on b-lenet's h0 %s (grid4+max, hidden 32)\n", h0.shape().str().c_str());
  std::printf("%-12s %12s %12s %12s %18s %14s\n", "predictor", "features us", "head us", "call us",
              "stage0+branch0 us", "call / path");
  for (auto [kind, placement] : {std::pair{PredictorKind::skip, Placement::each},
                                 std::pair{PredictorKind::exit, Placement::first}}) {
    PredictorSettings settings;
    settings.kind = kind;
    settings.placement = placement;
    settings.features = FeatureSpec::parse("grid4+max");
    settings.hidden = 32;
    Predictor predictor(*net, settings, rng);
    const Tensor features = predictor.features(0, h0);
    const Timing summary = time_calls([&] { (void)predictor.features(0, h0); }, budget);
    const Timing head = time_calls([&] { (void)predictor.scores_from_features(0, features); }, budget);
    const Timing call = time_calls([&] { (void)predictor.scores(0, h0); }, budget);
    std::printf("%-12s %12.3f %12.3f %12.3f %18.2f %13.1f%%\n", predictor.name().c_str(), summary.median * 1e6,
                head.median * 1e6, call.median * 1e6, path.median * 1e6, 100 * call.median / path.median);
  }
}

void run(const Options& options) {
  const double budget = options.quick ? 0.02 : 0.2;  // seconds per measurement
  std::ofstream csv;
  if (!options.csv_path.empty()) {
    csv.open(options.csv_path);
    BRANCHY_CHECK(csv.good(), "bench_kernels: cannot write CSV file '", options.csv_path, "'");
    csv << csv_header << '\n';
  }
  const Clock::time_point start = Clock::now();
  std::printf("load average at start: %s\n", load_average().c_str());
  Rng rng(2024);
  if (options.paths_only) {
    compare_inference_paths(options, budget, rng);
    time_predictor_calls(budget, rng);
    return;
  }
  const Peak peak = measure_peak(budget, rng);
  print_machine(peak);

  auto report = [&](Measurement m, const char* net, const char* layer, const std::string& shape, int batch,
                    int threads) {
    m.net = net;
    m.layer = layer;
    m.shape = shape;
    m.batch = batch;
    m.threads = threads;
    print_row(m, peak);
    if (csv.is_open()) write_csv_row(csv, m, peak);
  };

  for (int batch : batch_sizes) {
    print_header(batch);
    for (const ConvShape& s : conv_shapes) {
      if (!selected(options, s.net, s.layer)) continue;
      Conv2d conv(s.in, s.out, s.kernel, Conv2dOptions{s.stride, s.padding, s.groups, s.bias}, rng);
      const Tensor x = random_tensor(Shape{batch, s.in, s.size, s.size}, rng);  // (N, C_in, H, W)
      ConvAsGemm reference(s, batch, rng);
      const std::string shape =
          without_kind(conv.describe()) + " @" + std::to_string(s.size) + "x" + std::to_string(s.size);
      for (int threads : thread_counts) {
        ThreadCountScope scope(threads);
        report(measure(conv, x, reference, budget, rng), s.net, s.layer, shape, batch, threads);
      }
    }
    for (const LinearShape& s : linear_shapes) {
      if (!selected(options, s.net, s.layer)) continue;
      Linear linear(s.in, s.out, rng);
      const Tensor x = random_tensor(Shape{batch, s.in}, rng);  // (N, F_in)
      LinearAsGemm reference(s, batch, rng);
      for (int threads : thread_counts) {
        ThreadCountScope scope(threads);
        report(measure(linear, x, reference, budget, rng), s.net, s.layer, without_kind(linear.describe()), batch,
               threads);
      }
    }
  }
  compare_inference_paths(options, budget, rng);
  time_predictor_calls(budget, rng);
  std::printf("\nload average at end: %s; %.0f s in all\n", load_average().c_str(), seconds_since(start));
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse_options(argc, argv, options)) return 2;
  try {
    run(options);
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
