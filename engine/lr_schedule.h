// lr_schedule.h — the learning rate as a function of the epoch, in closed form
// (as PyTorch's schedulers give at epoch granularity), and its CLI spelling.
//
//   constant                  base
//   step:S:G                  base * G^floor(epoch / S)               (StepLR)
//   multistep:M1,M2,...:G     base * G^(number of milestones <= epoch) (MultiStepLR)
//   cosine[:MIN]              MIN + (base - MIN) (1 + cos(pi epoch / T)) / 2 for epoch <= T,
//                             MIN afterwards (CosineAnnealingLR, T = total epochs, MIN = 0)
//
// Requires: epochs counted from 0; base >= 0. Ensures: learning_rate(epoch) is
// a pure function of the epoch, so a resumed run gets the same rates.
// Fails: constructors and make_lr_schedule throw branchy::Error naming the bad
// value (make_lr_schedule quotes the spec and lists the accepted forms);
// learning_rate throws on a negative epoch.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace branchy {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual float learning_rate(int epoch) const = 0;
  virtual std::string describe() const = 0;  // e.g. "step: 0.1 x 0.1 every 30 epochs"
};

class ConstantLr : public LrSchedule {
 public:
  explicit ConstantLr(float base);
  float learning_rate(int epoch) const override;
  std::string describe() const override;

 private:
  float base_;
};

class StepLr : public LrSchedule {
 public:
  StepLr(float base, int step_size /* >= 1 */, float gamma /* > 0 */);
  float learning_rate(int epoch) const override;
  std::string describe() const override;

 private:
  float base_;
  int step_size_;
  float gamma_;
};

class MultiStepLr : public LrSchedule {
 public:
  MultiStepLr(float base, std::vector<int> milestones /* strictly increasing, >= 1 */, float gamma /* > 0 */);
  float learning_rate(int epoch) const override;
  std::string describe() const override;

 private:
  float base_;
  std::vector<int> milestones_;
  float gamma_;
};

class CosineLr : public LrSchedule {
 public:
  CosineLr(float base, int total_epochs /* >= 1 */, float min_lr = 0.0f /* >= 0 */);
  float learning_rate(int epoch) const override;
  std::string describe() const override;

 private:
  float base_;
  int total_epochs_;
  float min_lr_;
};

// Parses "constant", "step:30:0.1", "multistep:100,150:0.1", "cosine", "cosine:1e-5".
std::unique_ptr<LrSchedule> make_lr_schedule(const std::string& spec, float base_lr, int total_epochs);

}  // namespace branchy
