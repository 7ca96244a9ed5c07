// BranchyNet: wiring, joint backward, MAC counts, early exits that are really
// taken, batch = batch-1, and the model file.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/loss.h"
#include "layers/conv2d.h"
#include "nets/early_exit.h"
#include "pipeline/model_file.h"
#include "nets/registry.h"
#include "tests/gradcheck.h"
#include "tests/small_nets.h"
#include "tests/temp_folder.h"

using namespace branchy;
using branchy::testing::random_tensor;
using branchy::testing::small_b_lenet;
using branchy::testing::TemporaryFolder;

namespace {

// Sees every exit of a BranchyNet as one layer: y = concat of exit logits
// along features, so the shared gradient checker can check joint backward.
class AllExits : public Layer {
 public:
  explicit AllExits(BranchyNet& net) : net_(net) {}
  Shape out_shape(const Shape& in) const override { return Shape{in[0], net_.num_exits() * net_.classes()}; }
  Tensor forward(const Tensor& x, Mode mode) override {
    const std::vector<Tensor> logits = net_.forward_exits(x, mode);
    const int64_t N = x.dim(0), K = net_.classes();
    Tensor y = Tensor::uninitialized(out_shape(x.shape()));
    for (int64_t n = 0; n < N; ++n)
      for (size_t e = 0; e < logits.size(); ++e)
        for (int64_t k = 0; k < K; ++k) y[n * logits.size() * K + e * K + k] = logits[e][n * K + k];
    return y;
  }
  Tensor backward(const Tensor& dy) override {
    const int64_t N = dy.dim(0), K = net_.classes(), E = net_.num_exits();
    std::vector<Tensor> d(E);
    for (int64_t e = 0; e < E; ++e) {
      d[e] = Tensor::uninitialized(Shape{N, K});
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) d[e][n * K + k] = dy[n * E * K + e * K + k];
    }
    net_.backward_exits(d);
    return input_gradient_;
  }
  void collect_params(const std::string&, std::vector<ParamRef>& out) override {
    for (ParamRef& r : net_.named_params()) out.push_back(r);
  }
  std::string describe() const override { return "all exits of " + net_.name(); }
  Tensor input_gradient_;

 private:
  BranchyNet& net_;
};

}  // namespace

TEST_CASE("b-lenet has BranchyNet's layout and MAC counts", "[nets]") {
  auto net = build_network("b-lenet", Json::object(), Shape{1, 1, 28, 28}, 10, 1);
  REQUIRE(net->num_exits() == 2);
  REQUIRE(net->stage_output_shape(0) == (Shape{1, 5, 30, 30}));
  REQUIRE(net->stage_macs(0) == 112500);
  REQUIRE(net->branch_macs(0) == 107650);
  REQUIRE(net->stage_macs(1) == 1027570);
  REQUIRE(net->full_macs() == 1140070);
  REQUIRE(branchy_path_macs(*net, 0) == 112500 + 107650);
  REQUIRE(branchy_path_macs(*net, 1) == 1140070 + 107650);
  REQUIRE(direct_path_macs(*net, 1) == 1140070);
  auto plain = build_network("lenet", Json::object(), Shape{1, 1, 28, 28}, 10, 1);
  REQUIRE(plain->num_exits() == 1);
  REQUIRE(plain->full_macs() == 1140070);
  // Names are PyTorch state_dict names.
  const auto params = net->named_params();
  REQUIRE(params.front().name == "stage0.conv1.weight");
  bool has_branch_fc = false;
  for (const auto& p : params) has_branch_fc |= p.name == "branch0.fc.weight";
  REQUIRE(has_branch_fc);
}

TEST_CASE("networks reject unknown names and settings", "[nets]") {
  REQUIRE_THROWS_WITH(build_network("b-vgg", Json::object(), Shape{1, 1, 28, 28}, 10, 1),
                      Catch::Contains("unknown network 'b-vgg'") && Catch::Contains("b-lenet"));
  REQUIRE_THROWS_WITH(build_network("lenet", parse_config_overrides("conv9=4"), Shape{1, 1, 28, 28}, 10, 1),
                      Catch::Contains("conv9"));
  REQUIRE_THROWS_WITH(parse_config_overrides("depth"), Catch::Contains("key=value"));
}

TEST_CASE("joint backward through trunk and branch matches finite differences", "[nets]") {
  auto net = small_b_lenet(3);
  AllExits all(*net);
  branchy::testing::GradCheckOptions options;
  options.max_coordinates_per_tensor = 20;
  options.epsilon = 1e-3;  // a conv1 weight moves every pooled unit: small steps cross fewer kinks
  // The wrapper cannot return dx; check parameters only by giving it an input gradient of the right shape.
  const Tensor x = random_tensor(Shape{2, 1, 12, 12}, 5);
  all.input_gradient_ = Tensor(x.shape());
  options.check_input = false;
  auto result = branchy::testing::check_gradients(all, x, options);
  INFO(result.report);
  REQUIRE(result.passed);
  REQUIRE(result.coordinates_checked > 100);
}

TEST_CASE("joint backward never computes the input's gradient, and the parameter gradients stay the same", "[nets]") {
  auto skipping = small_b_lenet(3), computing = small_b_lenet(3);
  REQUIRE_FALSE(skipping->stage(0).needs_input_grad());
  REQUIRE_FALSE(skipping->stage(0).layer(0).needs_input_grad());  // conv1
  REQUIRE(skipping->stage(1).needs_input_grad());
  computing->stage(0).set_needs_input_grad(true);
  REQUIRE(computing->stage(0).layer(0).needs_input_grad());

  const Tensor x = random_tensor(Shape{4, 1, 12, 12}, 8);
  for (BranchyNet* net : {skipping.get(), computing.get()}) {
    const std::vector<Tensor> logits = net->forward_exits(x, Mode::train);
    std::vector<Tensor> d_logits;
    for (const Tensor& l : logits) d_logits.push_back(random_tensor(l.shape(), 9));
    net->zero_grad();
    net->backward_exits(d_logits);
  }
  const auto a = skipping->named_params(), b = computing->named_params();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].name);
    REQUIRE(max_abs_difference(a[i].param->grad, b[i].param->grad) == 0.0f);
  }

  // Stage 0 alone returns no dx; a layer added to a told Sequential is told too.
  skipping->stage(0).forward(x, Mode::train);
  REQUIRE_FALSE(skipping->stage(0).backward(random_tensor(skipping->stage(0).out_shape(x.shape()), 10)).defined());
  Sequential later;
  later.set_needs_input_grad(false);
  Rng rng(1);
  later.emplace<Conv2d>("conv1", 1, 2, 3, Conv2dOptions{}, rng);
  later.emplace<Conv2d>("conv2", 2, 2, 3, Conv2dOptions{}, rng);
  REQUIRE_FALSE(later.layer(0).needs_input_grad());
  REQUIRE(later.layer(1).needs_input_grad());  // its dx feeds conv1's backward
  const Tensor small = random_tensor(Shape{2, 1, 7, 7}, 11);
  later.forward(small, Mode::train);
  REQUIRE_FALSE(later.backward(random_tensor(later.out_shape(small.shape()), 12)).defined());
}

namespace {

// One call a Spy saw: which segment, and a copy of the rows it was given.
struct SpyCall {
  std::string segment;
  Tensor input;  // (rows, ...)
};

// An identity layer appended to the end of a stage or branch: it records
// every forward it sees, so the test observes which samples really went
// through that segment, independently of the code's own counters.
class Spy : public Layer {
 public:
  Spy(std::string segment, std::vector<SpyCall>& log) : segment_(std::move(segment)), log_(log) {}
  Shape out_shape(const Shape& in) const override { return in; }
  Tensor forward(const Tensor& x, Mode) override {
    log_.push_back({segment_, x.clone()});
    return x;
  }
  Tensor backward(const Tensor& dy) override { return dy; }
  std::string describe() const override { return "spy on " + segment_; }

 private:
  std::string segment_;
  std::vector<SpyCall>& log_;
};

void attach_spies(BranchyNet& net, std::vector<SpyCall>& log) {
  for (int i = 0; i < net.num_stages(); ++i) {
    net.stage(i).emplace<Spy>("spy", "stage" + std::to_string(i), log);
    if (i + 1 < net.num_stages()) net.branch(i).emplace<Spy>("spy", "branch" + std::to_string(i), log);
  }
  net.validate();  // the spies cost nothing, but the segment costs are recomputed
}

// Which rows of `full` (the whole batch through the same segment) the spy's
// rows are: each spied row must equal exactly one row of `full`.
std::vector<int64_t> identify_rows(const Tensor& spied, const Tensor& full) {
  const int64_t width = full.shape().sample_numel();
  REQUIRE(spied.shape().sample_numel() == width);
  std::vector<int64_t> rows;
  for (int64_t r = 0; r < spied.dim(0); ++r) {
    std::vector<int64_t> matches;
    for (int64_t n = 0; n < full.dim(0); ++n) {
      float difference = 0.0f;
      for (int64_t k = 0; k < width; ++k)
        difference = std::max(difference, std::fabs(spied[r * width + k] - full[n * width + k]));
      if (difference <= 1e-5f) matches.push_back(n);
    }
    INFO("spied row " << r);
    REQUIRE(matches.size() == 1);
    rows.push_back(matches[0]);
  }
  return rows;
}

std::vector<std::string> segments_called(const std::vector<SpyCall>& log) {
  std::vector<std::string> segments;
  for (const SpyCall& call : log) segments.push_back(call.segment);
  return segments;
}

// A b-resnet small enough for a test: three exits on 1×10×10, 3 classes.
std::unique_ptr<BranchyNet> small_b_resnet(uint64_t seed) {
  Json config = Json::object();
  config["base_channels"] = 4;
  config["branch0_width"] = 4;
  config["branch1_width"] = 4;
  return build_network("b-resnet", config, Shape{1, 1, 10, 10}, 3, seed);
}

}  // namespace

TEST_CASE("a spy in every segment sees exited samples never reach a later stage, branches tried in order",
          "[nets]") {
  auto net = small_b_resnet(4);
  std::vector<SpyCall> log;
  attach_spies(*net, log);
  const int64_t N = 18;
  const Tensor x = random_tensor(Shape{N, 1, 10, 10}, 6);

  // The whole batch through every segment (eval mode), to name the rows the spies see.
  net->forward_exits(x, Mode::eval);
  REQUIRE(segments_called(log) == std::vector<std::string>{"stage0", "branch0", "stage1", "branch1", "stage2"});
  std::map<std::string, Tensor> full;
  std::vector<std::vector<float>> entropies;
  for (const SpyCall& call : log) {
    full[call.segment] = call.input;
    if (call.segment.rfind("branch", 0) == 0) entropies.push_back(softmax_entropy(call.input));
  }
  entropies.push_back(softmax_entropy(full["stage2"]));

  // Thresholds that send about a third of the batch out at each exit.
  std::vector<float> sorted0 = entropies[0];
  std::sort(sorted0.begin(), sorted0.end());
  const float threshold0 = sorted0[N / 3];
  std::vector<float> staying1;
  for (int64_t n = 0; n < N; ++n)
    if (!(entropies[0][n] < threshold0)) staying1.push_back(entropies[1][n]);
  std::sort(staying1.begin(), staying1.end());
  const float threshold1 = staying1[staying1.size() / 2];

  // The rule, worked out here: the first exit whose entropy is below its threshold.
  std::vector<int> expected_exit(N, 2);
  for (int64_t n = 0; n < N; ++n) {
    if (entropies[0][n] < threshold0) expected_exit[n] = 0;
    else if (entropies[1][n] < threshold1) expected_exit[n] = 1;
  }
  auto rows_reaching = [&](int exit) {
    std::vector<int64_t> rows;
    for (int64_t n = 0; n < N; ++n)
      if (expected_exit[n] >= exit) rows.push_back(n);
    return rows;
  };
  INFO("entropies at branch 0: " << Catch::Detail::stringify(entropies[0]));
  REQUIRE(rows_reaching(1).size() < static_cast<size_t>(N));
  REQUIRE(rows_reaching(2).size() < rows_reaching(1).size());
  REQUIRE_FALSE(rows_reaching(2).empty());

  log.clear();
  const RouteResult r = infer_early_exit(*net, x, {threshold0, threshold1});
  // Each segment ran once, branch i right after stage i and before stage i+1.
  REQUIRE(segments_called(log) == std::vector<std::string>{"stage0", "branch0", "stage1", "branch1", "stage2"});
  const std::vector<std::vector<int64_t>> seen_by = {
      identify_rows(log[0].input, full["stage0"]), identify_rows(log[1].input, full["branch0"]),
      identify_rows(log[2].input, full["stage1"]), identify_rows(log[3].input, full["branch1"]),
      identify_rows(log[4].input, full["stage2"])};
  REQUIRE(seen_by[0] == rows_reaching(0));  // everyone runs stage 0 and tries branch 0
  REQUIRE(seen_by[1] == rows_reaching(0));
  REQUIRE(seen_by[2] == rows_reaching(1));  // who left at branch 0 never reaches stage 1
  REQUIRE(seen_by[3] == rows_reaching(1));
  REQUIRE(seen_by[4] == rows_reaching(2));  // nor stage 2, nor anyone who left at branch 1
  for (int64_t n = 0; n < N; ++n) REQUIRE(r.exit[n] == expected_exit[n]);
  // The code's own counter agrees with what the spies saw.
  for (int i = 0; i < 3; ++i) REQUIRE(r.stage_samples[i] == static_cast<int64_t>(seen_by[2 * i].size()));

  SECTION("when everyone leaves at branch 0 nothing after it runs") {
    log.clear();
    const float inf = std::numeric_limits<float>::infinity();
    infer_early_exit(*net, x, {inf, inf});
    REQUIRE(segments_called(log) == std::vector<std::string>{"stage0", "branch0"});
  }
  SECTION("when no one leaves, every branch is tried in order on the whole batch") {
    log.clear();
    infer_early_exit(*net, x, {0.0f, 0.0f});
    REQUIRE(segments_called(log) == std::vector<std::string>{"stage0", "branch0", "stage1", "branch1", "stage2"});
    for (const SpyCall& call : log) REQUIRE(call.input.dim(0) == N);
  }
}

TEST_CASE("early exits are really taken and batch equals batch-1", "[nets]") {
  auto net = small_b_lenet(4);
  const Tensor x = random_tensor(Shape{16, 1, 12, 12}, 6);
  const std::vector<Tensor> all = net->forward_exits(x, Mode::eval);
  const std::vector<float> entropy0 = softmax_entropy(all[0]);

  SECTION("an infinite threshold sends everyone out at exit 0 with branch 0's answer") {
    auto r = infer_early_exit(*net, x, {std::numeric_limits<float>::infinity()});
    for (int e : r.exit) REQUIRE(e == 0);
    REQUIRE(max_abs_difference(r.logits, all[0]) == 0.0f);
  }
  SECTION("a zero threshold sends everyone on (entropy is never below 0)") {
    auto r = infer_early_exit(*net, x, {0.0f});
    for (int e : r.exit) REQUIRE(e == 1);
    REQUIRE(max_abs_difference(r.logits, all[1]) < 1e-5f);
    REQUIRE(r.macs[0] == net->full_macs() + net->branch_macs(0));
  }
  SECTION("a median threshold splits the batch; each sample gets its own exit's answer") {
    std::vector<float> sorted = entropy0;
    std::sort(sorted.begin(), sorted.end());
    const float threshold = sorted[8];
    auto r = infer_early_exit(*net, x, {threshold});
    int64_t exited = 0;
    for (int64_t n = 0; n < 16; ++n) {
      const int expected_exit = entropy0[n] < threshold ? 0 : 1;
      REQUIRE(r.exit[n] == expected_exit);
      exited += expected_exit == 0;
      for (int k = 0; k < net->classes(); ++k)
        REQUIRE(r.logits[n * net->classes() + k] == Approx(all[expected_exit][n * net->classes() + k]).margin(1e-5));
      REQUIRE(r.macs[n] == branchy_path_macs(*net, expected_exit));
      REQUIRE(r.buffered_bytes[n] == 3 * 14 * 14 * 4);  // h0 (3, 14, 14) floats held while branch 0 ran
    }
    REQUIRE(exited == 8);
    for (int64_t n = 0; n < 16; ++n) {
      auto single = infer_early_exit(*net, x.batch_slice(n, n + 1), {threshold});
      REQUIRE(single.exit[0] == r.exit[n]);
      REQUIRE(single.prediction[0] == r.prediction[n]);
    }
    RecordedRun recorded;  // the same rule replayed from every exit's outputs
    recorded.entropies = {entropy0, softmax_entropy(all[1])};
    recorded.predictions = {argmax_rows(all[0]), argmax_rows(all[1])};
    recorded.scores.assign(2, Tensor());
    const RouteResult replayed = replay_route(*net, recorded, BranchyRule(*net, {threshold}));
    REQUIRE(replayed.exit == r.exit);
    REQUIRE(replayed.prediction == r.prediction);
    REQUIRE(replayed.macs == r.macs);
  }
  REQUIRE_THROWS_AS(infer_early_exit(*net, x, {}), Error);
}

TEST_CASE("a model file round-trips and damaged or foreign files are clear errors", "[nets]") {
  auto net = small_b_lenet(5);
  ModelInfo info;
  info.normalizer = Normalizer({0.5f}, {0.25f});
  info.thresholds = {0.3f};
  const TemporaryFolder folder("nets");
  const std::string path = folder.file("model.safetensors");
  save_model(path, *net, info);
  LoadedModel loaded = load_model(path);
  REQUIRE(loaded.net->name() == "b-lenet");
  REQUIRE(loaded.net->config() == net->config());
  REQUIRE(loaded.info.thresholds == std::vector<float>{0.3f});
  REQUIRE(loaded.info.normalizer->mean() == std::vector<float>{0.5f});
  const Tensor x = random_tensor(Shape{3, 1, 12, 12}, 7);
  REQUIRE(max_abs_difference(loaded.net->forward_final(x, Mode::eval), net->forward_final(x, Mode::eval)) == 0.0f);

  // A safetensors file that is not ours.
  const std::string foreign = folder.file("foreign.safetensors");
  save_safetensors(foreign, {{"weight", Tensor(Shape{2})}}, {});
  REQUIRE_THROWS_WITH(load_model(foreign), Catch::Contains(foreign) && Catch::Contains("not a branchy model"));
  // A truncated copy.
  FILE* in = std::fopen(path.c_str(), "rb");
  std::string bytes(1 << 20, '\0');
  bytes.resize(std::fread(bytes.data(), 1, bytes.size(), in));
  std::fclose(in);
  const std::string truncated = folder.file("truncated.safetensors");
  FILE* out = std::fopen(truncated.c_str(), "wb");
  std::fwrite(bytes.data(), 1, bytes.size() / 2, out);
  std::fclose(out);
  REQUIRE_THROWS_WITH(load_model(truncated), Catch::Contains(truncated));
}
