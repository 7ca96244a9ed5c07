// Value checks of the layers against PyTorch (the llm.c way): each fixture in
// tests/fixtures holds a case's input, parameters, output, upstream gradient
// and every gradient as PyTorch computed them (tests/reference/make_fixtures.py,
// float64 rounded to float32). A layer built from the case's config must give
// the same output and gradients to a relative error of 1e-4, measured over the
// whole tensor: max |actual - expected| / max |expected|.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "engine/error.h"
#include "engine/loss.h"
#include "engine/rng.h"
#include "layers/avgpool.h"
#include "layers/batchnorm.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/global_avgpool.h"
#include "layers/linear.h"
#include "layers/lrn.h"
#include "layers/maxpool.h"
#include "layers/residual.h"
#include "tests/fixture.h"

using namespace branchy;
using namespace branchy::testing;

namespace {

constexpr double tolerance = 1e-4;

struct Comparison {
  double relative_error = 0.0;  // max |a - e| / max |e|
  double max_difference = 0.0;  // max |a - e|
  int64_t worst_index = 0;      // where max |a - e| is
};

Comparison compare(const Tensor& actual, const Tensor& expected) {
  Comparison result;
  double largest_expected = 0.0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const double difference = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    largest_expected = std::max(largest_expected, std::fabs(static_cast<double>(expected[i])));
    if (!(difference <= result.max_difference)) {  // also catches NaN
      result.max_difference = std::isnan(difference) ? std::numeric_limits<double>::infinity() : difference;
      result.worst_index = i;
    }
  }
  const double scale = std::max(largest_expected, static_cast<double>(std::numeric_limits<float>::min()));
  result.relative_error = result.max_difference / scale;
  return result;
}

// Shapes must match exactly; values to `tolerance` relative to the tensor's scale.
void check_close(const std::string& what, const Tensor& actual, const Tensor& expected) {
  INFO(what << ": actual shape " << actual.shape().str() << ", expected " << expected.shape().str());
  REQUIRE(actual.defined());
  REQUIRE(actual.shape() == expected.shape());
  const Comparison c = compare(actual, expected);
  INFO(what << ": largest relative error " << c.relative_error << " (max |difference| " << c.max_difference
            << " at flat index " << c.worst_index << ": actual " << actual[c.worst_index] << ", expected "
            << expected[c.worst_index] << ")");
  CHECK(c.relative_error <= tolerance);
}

void copy_into(Param& param, const Fixture& fixture, const std::string& name) {
  const Tensor& source = fixture.get(name);
  INFO(fixture.path() << ": parameter " << name << " " << param.value.shape().str() << " from "
                      << source.shape().str());
  REQUIRE(param.value.shape() == source.shape());
  std::copy(source.data(), source.data() + source.numel(), param.value.data());
}

// The check every layer case shares: eval forward == y (no layer here acts
// differently in eval), train forward == y, backward(dy) == dx, and each
// trainable parameter's grad == d<name>. `params` maps fixture names to the
// layer's Params; the values are copied in first.
void check_layer_case(Layer& layer, const Fixture& fixture, const std::vector<std::pair<std::string, Param*>>& params) {
  for (const auto& [name, param] : params) copy_into(*param, fixture, name);
  layer.zero_grad();
  const Tensor& x = fixture.get("x");
  check_close("y (eval)", layer.forward(x, Mode::eval), fixture.get("y"));
  check_close("y", layer.forward(x, Mode::train), fixture.get("y"));
  check_close("dx", layer.backward(fixture.get("dy")), fixture.get("dx"));
  for (const auto& [name, param] : params)
    if (param->trainable) check_close("d" + name, param->grad, fixture.get("d" + name));
}

// The check every block case shares. A block fixture holds the block's
// parameters and buffers by state_dict name between "x" and "y"; they must be
// exactly the block's named params. Then: eval forward (initial
// running statistics) == y_eval, train forward == y, running statistics after
// that step == <name>_after, backward(dy) == dx, each trainable grad == d<name>.
void check_block_case(Layer& block, const Fixture& fixture) {
  const std::vector<std::string> names = fixture.names();
  const auto x_at = std::find(names.begin(), names.end(), "x");
  const auto y_at = std::find(names.begin(), names.end(), "y");
  REQUIRE(x_at < y_at);
  std::vector<std::string> fixture_params(x_at + 1, y_at);
  std::vector<ParamRef> params = block.named_params();
  std::vector<std::string> block_params;
  for (const ParamRef& ref : params) block_params.push_back(ref.name);
  std::sort(fixture_params.begin(), fixture_params.end());
  std::sort(block_params.begin(), block_params.end());
  REQUIRE(block_params == fixture_params);
  for (ParamRef& ref : params) copy_into(*ref.param, fixture, ref.name);
  const Tensor& x = fixture.get("x");
  check_close("y_eval", block.forward(x, Mode::eval), fixture.get("y_eval"));
  block.zero_grad();
  check_close("y", block.forward(x, Mode::train), fixture.get("y"));
  check_close("dx", block.backward(fixture.get("dy")), fixture.get("dx"));
  for (ParamRef& ref : params) {
    if (ref.param->trainable) check_close("d" + ref.name, ref.param->grad, fixture.get("d" + ref.name));
    else check_close(ref.name + " after the step", ref.param->value, fixture.get(ref.name + "_after"));
  }
}

// Every fixture whose name starts with `prefix`, at least `expected_count` of them.
std::vector<Fixture> load_cases(const std::string& prefix, size_t expected_count) {
  const std::vector<std::string> paths = fixture_paths(prefix);
  INFO("fixtures " << fixture_directory() << "/" << prefix << "*.bin");
  REQUIRE(paths.size() >= expected_count);
  std::vector<Fixture> fixtures;
  for (const std::string& path : paths) fixtures.push_back(load_fixture(path));
  return fixtures;
}

}  // namespace

TEST_CASE("conv2d matches PyTorch: groups, stride, padding, kernel 1/3/5, with and without bias", "[fixtures]") {
  for (const Fixture& fixture : load_cases("conv2d_", 8)) {
    INFO("fixture " << fixture.path());
    const std::vector<int> config = fixture.get_ints("config");  // in, out, k, stride, padding, groups, bias
    REQUIRE(config.size() == 7);
    Rng rng(1);
    Conv2d conv(config[0], config[1], config[2],
                Conv2dOptions{.stride = config[3], .padding = config[4], .groups = config[5], .bias = config[6] != 0},
                rng);
    std::vector<std::pair<std::string, Param*>> params = {{"weight", &conv.weight}};
    REQUIRE(fixture.has("bias") == (config[6] != 0));
    if (config[6] != 0) params.push_back({"bias", &conv.bias});
    check_layer_case(conv, fixture, params);
  }
}

TEST_CASE("linear matches PyTorch, with and without bias", "[fixtures]") {
  for (const Fixture& fixture : load_cases("linear_", 2)) {
    INFO("fixture " << fixture.path());
    const std::vector<int> config = fixture.get_ints("config");  // in, out, bias
    REQUIRE(config.size() == 3);
    Rng rng(1);
    Linear linear(config[0], config[1], rng, config[2] != 0);
    std::vector<std::pair<std::string, Param*>> params = {{"weight", &linear.weight}};
    if (config[2] != 0) params.push_back({"bias", &linear.bias});
    check_layer_case(linear, fixture, params);
  }
}

TEST_CASE("max pooling matches PyTorch in floor and ceil mode, with padding", "[fixtures]") {
  for (const Fixture& fixture : load_cases("maxpool_", 6)) {
    INFO("fixture " << fixture.path());
    const std::vector<int> config = fixture.get_ints("config");  // kernel, stride, padding, ceil
    REQUIRE(config.size() == 4);
    MaxPool2d pool(config[0], config[1], config[2], config[3] != 0);
    check_layer_case(pool, fixture, {});
  }
}

TEST_CASE("average pooling matches PyTorch (count_include_pad) in floor and ceil mode", "[fixtures]") {
  for (const Fixture& fixture : load_cases("avgpool_", 4)) {
    INFO("fixture " << fixture.path());
    const std::vector<int> config = fixture.get_ints("config");  // kernel, stride, padding, ceil
    REQUIRE(config.size() == 4);
    AvgPool2d pool(config[0], config[1], config[2], config[3] != 0);
    check_layer_case(pool, fixture, {});
  }
}

TEST_CASE("local response norm matches PyTorch for small and large alpha", "[fixtures]") {
  for (const Fixture& fixture : load_cases("lrn_", 4)) {
    INFO("fixture " << fixture.path());
    const Tensor& config = fixture.get("config");  // size, alpha, beta, k
    REQUIRE(config.numel() == 4);
    LocalResponseNorm lrn(static_cast<int>(config[0]), config[1], config[2], config[3]);
    check_layer_case(lrn, fixture, {});
  }
}

TEST_CASE("batch norm in train mode matches PyTorch: output, gradients, running statistics", "[fixtures]") {
  for (const Fixture& fixture : load_cases("batchnorm_train_", 2)) {
    INFO("fixture " << fixture.path());
    const Tensor& config = fixture.get("config");  // channels, eps, momentum, train
    REQUIRE(config.numel() == 4);
    REQUIRE(config[3] == 1.0f);
    BatchNorm2d norm(static_cast<int>(config[0]), config[1], config[2]);
    copy_into(norm.weight, fixture, "weight");
    copy_into(norm.bias, fixture, "bias");
    copy_into(norm.running_mean, fixture, "running_mean");
    copy_into(norm.running_var, fixture, "running_var");
    norm.zero_grad();
    check_close("y", norm.forward(fixture.get("x"), Mode::train), fixture.get("y"));
    check_close("running_mean after the step", norm.running_mean.value, fixture.get("running_mean_after"));
    check_close("running_var after the step", norm.running_var.value, fixture.get("running_var_after"));
    check_close("dx", norm.backward(fixture.get("dy")), fixture.get("dx"));
    check_close("dweight", norm.weight.grad, fixture.get("dweight"));
    check_close("dbias", norm.bias.grad, fixture.get("dbias"));
  }
}

TEST_CASE("batch norm in eval mode normalises with the running statistics as PyTorch does", "[fixtures]") {
  // The fixture also holds PyTorch's eval-mode dx, but the Layer contract
  // keeps nothing in eval mode, so only the output is compared.
  for (const Fixture& fixture : load_cases("batchnorm_eval_", 1)) {
    INFO("fixture " << fixture.path());
    const Tensor& config = fixture.get("config");  // channels, eps, momentum, train
    REQUIRE(config.numel() == 4);
    REQUIRE(config[3] == 0.0f);
    BatchNorm2d norm(static_cast<int>(config[0]), config[1], config[2]);
    copy_into(norm.weight, fixture, "weight");
    copy_into(norm.bias, fixture, "bias");
    copy_into(norm.running_mean, fixture, "running_mean");
    copy_into(norm.running_var, fixture, "running_var");
    check_close("y", norm.forward(fixture.get("x"), Mode::eval), fixture.get("y"));
    // Eval must leave the running statistics alone.
    check_close("running_mean", norm.running_mean.value, fixture.get("running_mean"));
    check_close("running_var", norm.running_var.value, fixture.get("running_var"));
  }
}

TEST_CASE("softmax cross-entropy matches PyTorch, large logits included", "[fixtures]") {
  for (const Fixture& fixture : load_cases("cross_entropy_", 2)) {
    INFO("fixture " << fixture.path());
    const Tensor& logits = fixture.get("logits");  // (N, K)
    Tensor dlogits;
    const float loss = softmax_cross_entropy(logits, fixture.get_ints("labels"), &dlogits);
    check_close("loss", Tensor::filled(Shape{1}, loss), fixture.get("loss"));
    check_close("dlogits", dlogits, fixture.get("dlogits"));
  }
}

TEST_CASE("residual basic blocks match PyTorch: identity, projection and zero-pad shortcuts", "[fixtures]") {
  for (const Fixture& fixture : load_cases("basic_block_", 4)) {
    INFO("fixture " << fixture.path());
    const std::vector<int> config = fixture.get_ints("config");  // in, out, stride, shortcut (1 = zero pad)
    REQUIRE(config.size() == 4);
    Rng rng(1);
    ResidualBasicBlock block(config[0], config[1], config[2],
                             config[3] ? ShortcutKind::identity_or_zero_pad : ShortcutKind::identity_or_projection,
                             rng);
    check_block_case(block, fixture);
  }
}

TEST_CASE("bottleneck blocks match PyTorch, grouped (ResNeXt) and plain", "[fixtures]") {
  for (const Fixture& fixture : load_cases("bottleneck_", 3)) {
    INFO("fixture " << fixture.path());
    const std::vector<int> config = fixture.get_ints("config");  // in, bottleneck, out, stride, groups, shortcut
    REQUIRE(config.size() == 6);
    REQUIRE(config[5] == 0);  // projection shortcuts, as ResNeXt's
    Rng rng(1);
    ResidualBottleneck block(config[0], config[1], config[2], config[3], config[4],
                             ShortcutKind::identity_or_projection, rng);
    check_block_case(block, fixture);
  }
}

TEST_CASE("DenseNet layers, a dense block and a transition match PyTorch", "[fixtures]") {
  Rng rng(1);
  for (const Fixture& fixture : load_cases("dense_layer_", 2)) {
    INFO("fixture " << fixture.path());
    const std::vector<int> config = fixture.get_ints("config");  // in, growth, bottleneck factor
    REQUIRE(config.size() == 3);
    DenseLayer layer(config[0], config[1], config[2], rng);
    check_block_case(layer, fixture);
  }
  for (const Fixture& fixture : load_cases("dense_block_", 1)) {
    INFO("fixture " << fixture.path());
    const std::vector<int> config = fixture.get_ints("config");  // in, layers, growth, bottleneck factor
    REQUIRE(config.size() == 4);
    DenseBlock block(config[0], config[1], config[2], config[3], rng);
    check_block_case(block, fixture);
  }
  for (const Fixture& fixture : load_cases("transition_", 1)) {
    INFO("fixture " << fixture.path());
    const std::vector<int> config = fixture.get_ints("config");  // in, out
    REQUIRE(config.size() == 2);
    Transition transition(config[0], config[1], rng);
    check_block_case(transition, fixture);
  }
}

TEST_CASE("global average pooling matches PyTorch", "[fixtures]") {
  for (const Fixture& fixture : load_cases("global_avgpool_", 1)) {
    INFO("fixture " << fixture.path());
    GlobalAvgPool2d pool;
    check_layer_case(pool, fixture, {});
  }
}

// --- the loader itself ---------------------------------------------------

namespace {

// A file in the temporary folder, removed when the test is done with it.
class TemporaryFile {
 public:
  explicit TemporaryFile(const std::string& stem)
      : path_((std::filesystem::temp_directory_path() /
               ("branchy_" + stem + "_" + std::to_string(::getpid()) + ".bin"))
                  .string()) {}
  ~TemporaryFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  const std::string& path() const { return path_; }
  void write(const std::string& bytes) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
  }

 private:
  std::string path_;
};

template <typename T>
void append(std::string& bytes, T value) {
  char raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));
  bytes.append(raw, sizeof(T));
}

// One tensor in the BFX1 layout, written by hand (independent of the script).
void append_tensor(std::string& bytes, const std::string& name, const std::vector<int64_t>& dims,
                   const std::vector<float>& values) {
  append<uint32_t>(bytes, static_cast<uint32_t>(name.size()));
  bytes += name;
  append<uint32_t>(bytes, static_cast<uint32_t>(dims.size()));
  for (int64_t d : dims) append<int64_t>(bytes, d);
  for (float v : values) append<float>(bytes, v);
}

std::string two_tensor_file() {
  std::string bytes = "BFX1";
  append<uint32_t>(bytes, 3);
  append_tensor(bytes, "x", {2, 3}, {1, 2, 3, 4, 5, 6});
  append_tensor(bytes, "labels", {2}, {7, 0});
  append_tensor(bytes, "half", {1, 1, 1, 1, 1}, {0.5f});
  return bytes;
}

std::string error_of(const std::string& path) {
  try {
    load_fixture(path);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_CASE("the fixture loader reads the BFX1 layout", "[fixtures]") {
  TemporaryFile file("fixture_ok");
  file.write(two_tensor_file());
  const Fixture fixture = load_fixture(file.path());
  REQUIRE(fixture.names() == std::vector<std::string>{"x", "labels", "half"});
  REQUIRE(fixture.get("x").shape() == Shape{2, 3});
  REQUIRE(fixture.get("x").to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  REQUIRE(fixture.get_ints("labels") == std::vector<int>{7, 0});
  REQUIRE_FALSE(fixture.has("y"));
  REQUIRE_THROWS_WITH(fixture.get("y"), Catch::Contains(file.path()) && Catch::Contains("'y'"));
  REQUIRE(fixture.get("half").shape() == Shape{1, 1, 1, 1, 1});
  REQUIRE_THROWS_WITH(fixture.get_ints("half"), Catch::Contains("'half'[0]") && Catch::Contains("whole number"));
}

TEST_CASE("the fixture loader rejects a wrong magic, truncation and trailing bytes", "[fixtures]") {
  const std::string good = two_tensor_file();
  TemporaryFile file("fixture_bad");

  std::string wrong_magic = good;
  wrong_magic[3] = '2';
  file.write(wrong_magic);
  REQUIRE_THROWS_AS(load_fixture(file.path()), Error);
  const std::string magic_message = error_of(file.path());
  INFO(magic_message);
  REQUIRE(magic_message.find(file.path()) != std::string::npos);
  REQUIRE(magic_message.find("magic") != std::string::npos);

  // Every proper prefix of a good file is a truncated file.
  for (size_t length = 0; length < good.size(); ++length) {
    INFO("truncated to " << length << " of " << good.size() << " bytes");
    file.write(good.substr(0, length));
    const std::string message = error_of(file.path());
    REQUIRE(message.find(file.path()) != std::string::npos);
  }

  file.write(good + "x");
  REQUIRE_THROWS_WITH(load_fixture(file.path()), Catch::Contains("after the last tensor"));

  std::string bad_rank = "BFX1";
  append<uint32_t>(bad_rank, 1);
  append_tensor(bad_rank, "x", {1, 1, 1, 1, 1, 1}, {1});
  file.write(bad_rank);
  REQUIRE_THROWS_WITH(load_fixture(file.path()), Catch::Contains("rank 6"));

  std::string huge_dims = "BFX1";
  append<uint32_t>(huge_dims, 1);
  append_tensor(huge_dims, "x", {int64_t{1} << 40, int64_t{1} << 40}, {1});
  file.write(huge_dims);
  REQUIRE_THROWS_WITH(load_fixture(file.path()), Catch::Contains("truncated"));

  std::string duplicate = "BFX1";
  append<uint32_t>(duplicate, 2);
  append_tensor(duplicate, "x", {1}, {1});
  append_tensor(duplicate, "x", {1}, {2});
  file.write(duplicate);
  REQUIRE_THROWS_WITH(load_fixture(file.path()), Catch::Contains("duplicate"));

  REQUIRE_THROWS_AS(load_fixture(file.path() + ".missing"), Error);
}

TEST_CASE("every committed fixture loads and a truncated copy of one is rejected", "[fixtures]") {
  const std::vector<std::string> paths = fixture_paths("");
  REQUIRE(paths.size() >= 41);
  for (const std::string& path : paths) REQUIRE_NOTHROW(load_fixture(path));

  std::ifstream in(paths.front(), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 100);
  TemporaryFile file("fixture_cut");
  file.write(bytes.substr(0, bytes.size() - 3));
  REQUIRE_THROWS_WITH(load_fixture(file.path()), Catch::Contains(file.path()) && Catch::Contains("truncated"));
}
