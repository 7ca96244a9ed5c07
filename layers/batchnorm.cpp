#include "layers/batchnorm.h"

#include <cmath>

#include "engine/error.h"
#include "engine/kernels.h"
#include "engine/threads.h"

namespace branchy {

namespace {

// Elements per channel within one sample: H * W for images, 1 for (N, C).
int64_t plane_size(const Shape& shape) { return shape.sample_numel() / shape[1]; }

// Checked before the Params are sized by it (Shape would reject a negative
// count with a message that does not name the layer).
int checked_channels(int channels) {
  BRANCHY_CHECK(channels >= 1, "batchnorm: channels must be at least 1, got ", channels);
  return channels;
}

}  // namespace

BatchNorm2d::BatchNorm2d(int channels, float eps, float momentum)
    : weight(Shape{checked_channels(channels)}),
      bias(Shape{channels}),
      running_mean(Shape{channels}, /*is_trainable=*/false),
      running_var(Shape{channels}, /*is_trainable=*/false),
      channels_(channels),
      eps_(eps),
      momentum_(momentum),
      batch_mean_(static_cast<size_t>(channels)),
      batch_inv_std_(static_cast<size_t>(channels)),
      scale_(static_cast<size_t>(channels)),
      shift_(static_cast<size_t>(channels)),
      channel_sums_(2 * static_cast<size_t>(channels) + 1) {
  BRANCHY_CHECK(eps > 0.0f, "batchnorm: eps must be positive, got ", eps);
  BRANCHY_CHECK(momentum >= 0.0f && momentum <= 1.0f, "batchnorm: momentum must be in [0, 1], got ", momentum);
  weight.value.fill(1.0f);
  running_var.value.fill(1.0f);
}

std::string BatchNorm2d::describe() const { return "batchnorm " + std::to_string(channels_); }

Shape BatchNorm2d::out_shape(const Shape& in) const {
  BRANCHY_CHECK(in.rank() >= 2 && in.rank() <= 4 && in[1] == channels_, describe(),
                ": expected input (N, ", channels_, "), (N, ", channels_, ", L) or (N, ", channels_,
                ", H, W), got ", in.str());
  return in;
}

void BatchNorm2d::collect_params(const std::string& prefix, std::vector<ParamRef>& out) {
  out.push_back({join_name(prefix, "weight"), &weight});
  out.push_back({join_name(prefix, "bias"), &bias});
  out.push_back({join_name(prefix, "running_mean"), &running_mean});
  out.push_back({join_name(prefix, "running_var"), &running_var});
}

void BatchNorm2d::compute_batch_statistics(const Tensor& x) {
  const int64_t batch = x.dim(0), plane = plane_size(x.shape());
  const float* x_data = x.data();
  // Two passes in double: the mean, then squared deviations from it (no
  // cancellation as with E[x^2] - E[x]^2). Each pass's per-channel sums are
  // summed over the statistics group, if any, before they are used.
  double* totals = channel_sums_.data();  // (C), then M at [C]
  parallel_for(channels_, x.numel(), [&](int64_t c) {
    double total = 0.0;
    for (int64_t n = 0; n < batch; ++n) total += sum(x_data + (n * channels_ + c) * plane, plane);
    totals[c] = total;
  });
  totals[channels_] = static_cast<double>(batch * plane);  // M: values per channel
  if (statistics_group_) statistics_group_->sum(totals, channels_ + 1);
  const double count = count_ = totals[channels_];
  BRANCHY_CHECK(count > 1, describe(), ": train mode needs more than one value per channel, got input ",
                x.shape().str());
  for (int64_t c = 0; c < channels_; ++c) batch_mean_[c] = static_cast<float>(totals[c] / count);

  double* squares = channel_sums_.data() + channels_ + 1;  // (C)
  parallel_for(channels_, x.numel(), [&](int64_t c) {
    double sum_squares = 0.0;  // around the float mean: it differs from the exact one by ~1e-7 relative
    for (int64_t n = 0; n < batch; ++n)
      sum_squares += sum_squared_deviation(x_data + (n * channels_ + c) * plane, batch_mean_[c], plane);
    squares[c] = sum_squares;
  });
  if (statistics_group_) statistics_group_->sum(squares, channels_);
  float* running_mean_data = running_mean.value.data();
  float* running_var_data = running_var.value.data();
  for (int64_t c = 0; c < channels_; ++c) {
    const double biased_var = squares[c] / count;
    const double unbiased_var = squares[c] / (count - 1);
    batch_inv_std_[c] = static_cast<float>(1.0 / std::sqrt(biased_var + eps_));
    running_mean_data[c] = (1.0f - momentum_) * running_mean_data[c] + momentum_ * batch_mean_[c];
    running_var_data[c] =
        (1.0f - momentum_) * running_var_data[c] + momentum_ * static_cast<float>(unbiased_var);
  }
}

std::pair<const float*, const float*> BatchNorm2d::inference_affine() {
  const float* mean = running_mean.value.data();
  const float* var = running_var.value.data();
  for (int64_t c = 0; c < channels_; ++c) {
    scale_[c] = weight.value[c] / std::sqrt(var[c] + eps_);
    shift_[c] = bias.value[c] - mean[c] * scale_[c];
  }
  return {scale_.data(), shift_.data()};
}

Tensor BatchNorm2d::forward(const Tensor& x, Mode mode) {
  const Shape shape = out_shape(x.shape());
  const float* weight_data = weight.value.data();
  const float* bias_data = bias.value.data();
  if (mode == Mode::train) {
    compute_batch_statistics(x);
    for (int64_t c = 0; c < channels_; ++c) {
      scale_[c] = weight_data[c] * batch_inv_std_[c];
      shift_[c] = bias_data[c] - batch_mean_[c] * scale_[c];
    }
    x_ = x;
  } else {
    inference_affine();
    x_ = Tensor();
  }
  // y = x * scale_c + shift_c, one sample (C planes) at a time.
  const int64_t batch = shape[0], plane = plane_size(shape), sample = channels_ * plane;
  Tensor y = Tensor::uninitialized(shape);
  const float* x_data = x.data();
  float* y_data = y.data();
  parallel_for(batch, x.numel(), [&](int64_t n) {
    channel_affine(x_data + n * sample, scale_.data(), shift_.data(), y_data + n * sample, channels_, plane);
  });
  return y;
}

Tensor BatchNorm2d::backward(const Tensor& dy) {
  BRANCHY_CHECK(x_.defined(), describe(), ": backward needs a train-mode forward first");
  BRANCHY_CHECK(dy.shape() == x_.shape(), describe(), ": backward got dy ", dy.shape().str(), ", expected ",
                x_.shape().str());
  // With x_hat = (x - mean) * inv_std and M values per channel:
  //   dL/dbias   = sum dy,   dL/dweight = sum dy * x_hat,
  //   dx = weight * inv_std * (dy - mean(dy) - x_hat * mean(dy * x_hat)).
  // With a statistics group the two sums, and M, span every rank's batch.
  const int64_t batch = x_.dim(0), plane = plane_size(x_.shape());
  Tensor dx = Tensor::uninitialized(x_.shape());
  const float* x_data = x_.data();
  const float* dy_data = dy.data();
  float* dx_data = dx.data();
  const float* weight_data = weight.value.data();
  float* weight_grad = weight.grad.data();
  float* bias_grad = bias.grad.data();
  double* sums_dy = channel_sums_.data();                    // (C)
  double* sums_dy_x_hat = channel_sums_.data() + channels_;  // (C)
  parallel_for(channels_, x_.numel(), [&](int64_t c) {
    const float mean = batch_mean_[c], inv_std = batch_inv_std_[c];
    double sum_dy = 0.0, sum_dy_deviation = 0.0;  // sum dy, sum dy * (x - mean)
    for (int64_t n = 0; n < batch; ++n) {
      const int64_t offset = (n * channels_ + c) * plane;
      sum_and_centered_dot(dy_data + offset, x_data + offset, mean, plane, sum_dy, sum_dy_deviation);
    }
    const double sum_dy_x_hat = sum_dy_deviation * inv_std;
    weight_grad[c] += static_cast<float>(sum_dy_x_hat);  // this rank's share
    bias_grad[c] += static_cast<float>(sum_dy);
    sums_dy[c] = sum_dy;
    sums_dy_x_hat[c] = sum_dy_x_hat;
  });
  if (statistics_group_) statistics_group_->sum(channel_sums_.data(), 2 * int64_t{channels_});
  const double count = count_;
  parallel_for(channels_, x_.numel(), [&](int64_t c) {
    const float mean = batch_mean_[c], inv_std = batch_inv_std_[c];
    const float gain = weight_data[c] * inv_std;
    const float mean_dy = static_cast<float>(sums_dy[c] / count);
    const float mean_dy_x_hat = static_cast<float>(sums_dy_x_hat[c] / count);
    // dx = gain * (dy - mean_dy - (x - mean) * inv_std * mean_dy_x_hat) = gain * dy + slope * x + constant
    const float slope = -gain * inv_std * mean_dy_x_hat;
    const float constant = gain * (mean * inv_std * mean_dy_x_hat - mean_dy);
    for (int64_t n = 0; n < batch; ++n) {
      const int64_t offset = (n * channels_ + c) * plane;
      affine_pair(dy_data + offset, x_data + offset, gain, slope, constant, dx_data + offset, plane);
    }
  });
  return dx;
}

}  // namespace branchy
