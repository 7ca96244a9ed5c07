#include "engine/lr_schedule.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <numbers>
#include <sstream>

#include "engine/error.h"

namespace branchy {

namespace {

constexpr const char* accepted_forms =
    "constant | step:STEP_SIZE:GAMMA (e.g. step:30:0.1) | multistep:M1,M2,...:GAMMA (e.g. multistep:100,150:0.1) | "
    "cosine | cosine:MIN_LR (e.g. cosine:1e-5)";

void check_epoch(int epoch, const char* who) { BRANCHY_CHECK(epoch >= 0, who, ": epoch ", epoch, " must be >= 0"); }

void check_base(float base, const char* who) {
  BRANCHY_CHECK(std::isfinite(base) && base >= 0.0f, who, ": base learning rate ", base, " must be finite and >= 0");
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream stream(text);
  while (std::getline(stream, part, separator)) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();  // getline drops a trailing empty field
  return parts;
}

// The whole of `text` as a number, or an Error naming `what`.
float parse_float(const std::string& text, const char* what) {
  char* end = nullptr;
  errno = 0;
  const float value = std::strtof(text.c_str(), &end);
  BRANCHY_CHECK(!text.empty() && end == text.c_str() + text.size() && errno == 0 && std::isfinite(value), what, " \"",
                text, "\" is not a number");
  return value;
}

int parse_int(const std::string& text, const char* what) {
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text.c_str(), &end, 10);
  BRANCHY_CHECK(!text.empty() && end == text.c_str() + text.size() && errno == 0 && value >= INT_MIN &&
                    value <= INT_MAX,
                what, " \"", text, "\" is not a whole number");
  return static_cast<int>(value);
}

std::unique_ptr<LrSchedule> parse_schedule(const std::string& spec, float base_lr, int total_epochs) {
  const std::vector<std::string> fields = split(spec, ':');
  const std::string kind = fields.empty() ? "" : fields[0];
  if (kind == "constant" && fields.size() == 1) return std::make_unique<ConstantLr>(base_lr);
  if (kind == "step" && fields.size() == 3) {
    return std::make_unique<StepLr>(base_lr, parse_int(fields[1], "step size"), parse_float(fields[2], "gamma"));
  }
  if (kind == "multistep" && fields.size() == 3) {
    std::vector<int> milestones;
    for (const std::string& milestone : split(fields[1], ',')) milestones.push_back(parse_int(milestone, "milestone"));
    return std::make_unique<MultiStepLr>(base_lr, milestones, parse_float(fields[2], "gamma"));
  }
  if (kind == "cosine" && (fields.size() == 1 || fields.size() == 2)) {
    const float min_lr = fields.size() == 2 ? parse_float(fields[1], "minimum learning rate") : 0.0f;
    return std::make_unique<CosineLr>(base_lr, total_epochs, min_lr);
  }
  fail("unknown form");
}

std::string format(float value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

// ---- ConstantLr ----

ConstantLr::ConstantLr(float base) : base_(base) { check_base(base, "ConstantLr"); }

float ConstantLr::learning_rate(int epoch) const {
  check_epoch(epoch, "ConstantLr");
  return base_;
}

std::string ConstantLr::describe() const { return "constant " + format(base_); }

// ---- StepLr ----

StepLr::StepLr(float base, int step_size, float gamma) : base_(base), step_size_(step_size), gamma_(gamma) {
  check_base(base, "StepLr");
  BRANCHY_CHECK(step_size >= 1, "StepLr: step size ", step_size, " must be >= 1 epoch");
  BRANCHY_CHECK(std::isfinite(gamma) && gamma > 0.0f, "StepLr: gamma ", gamma, " must be finite and > 0");
}

float StepLr::learning_rate(int epoch) const {
  check_epoch(epoch, "StepLr");
  return static_cast<float>(base_ * std::pow(static_cast<double>(gamma_), epoch / step_size_));
}

std::string StepLr::describe() const {
  return "step " + format(base_) + " x " + format(gamma_) + " every " + std::to_string(step_size_) + " epochs";
}

// ---- MultiStepLr ----

MultiStepLr::MultiStepLr(float base, std::vector<int> milestones, float gamma)
    : base_(base), milestones_(std::move(milestones)), gamma_(gamma) {
  check_base(base, "MultiStepLr");
  BRANCHY_CHECK(!milestones_.empty(), "MultiStepLr: needs at least one milestone");
  for (size_t i = 0; i < milestones_.size(); ++i) {
    BRANCHY_CHECK(milestones_[i] >= 1 && (i == 0 || milestones_[i] > milestones_[i - 1]), "MultiStepLr: milestone ",
                  milestones_[i], " at position ", i, " must be >= 1 and greater than the one before");
  }
  BRANCHY_CHECK(std::isfinite(gamma) && gamma > 0.0f, "MultiStepLr: gamma ", gamma, " must be finite and > 0");
}

float MultiStepLr::learning_rate(int epoch) const {
  check_epoch(epoch, "MultiStepLr");
  // PyTorch's bisect_right: a milestone counts from its own epoch on.
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin();
  return static_cast<float>(base_ * std::pow(static_cast<double>(gamma_), static_cast<double>(passed)));
}

std::string MultiStepLr::describe() const {
  std::string text = "multistep " + format(base_) + " x " + format(gamma_) + " at epochs";
  for (size_t i = 0; i < milestones_.size(); ++i) text += (i == 0 ? " " : ",") + std::to_string(milestones_[i]);
  return text;
}

// ---- CosineLr ----

CosineLr::CosineLr(float base, int total_epochs, float min_lr)
    : base_(base), total_epochs_(total_epochs), min_lr_(min_lr) {
  check_base(base, "CosineLr");
  BRANCHY_CHECK(total_epochs >= 1, "CosineLr: total epochs ", total_epochs, " must be >= 1");
  BRANCHY_CHECK(std::isfinite(min_lr) && min_lr >= 0.0f, "CosineLr: minimum learning rate ", min_lr,
                " must be finite and >= 0");
}

float CosineLr::learning_rate(int epoch) const {
  check_epoch(epoch, "CosineLr");
  // PyTorch's closed form is periodic past T; training past the schedule's
  // end should not warm the rate back up, so it stays at the minimum.
  if (epoch >= total_epochs_) return min_lr_;
  const double phase = std::numbers::pi * epoch / total_epochs_;
  return static_cast<float>(min_lr_ + (static_cast<double>(base_) - min_lr_) * (1.0 + std::cos(phase)) / 2.0);
}

std::string CosineLr::describe() const {
  return "cosine " + format(base_) + " -> " + format(min_lr_) + " over " + std::to_string(total_epochs_) + " epochs";
}

// ---- make_lr_schedule ----

std::unique_ptr<LrSchedule> make_lr_schedule(const std::string& spec, float base_lr, int total_epochs) {
  try {
    return parse_schedule(spec, base_lr, total_epochs);
  } catch (const Error& error) {
    fail("learning-rate schedule \"", spec, "\": ", error.what(), "; accepted forms: ", accepted_forms);
  }
}

}  // namespace branchy
