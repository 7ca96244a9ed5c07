#include "engine/conv_direct.h"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/threads.h"

namespace branchy {

namespace {

using Vec = xsimd::batch<float>;
constexpr int kLanes = static_cast<int>(Vec::size);
constexpr int kVectors = 2;                    // output positions per block: kVectors * kLanes
constexpr int kBlock = kVectors * kLanes;
// Output channels accumulated together. AVX-512 has 32 vector registers:
// 8 channels x 2 vectors = 16 independent sums hide the FMA latency and each
// loaded input vector feeds 8 FMAs (measured against 4 x 2, 8 x 1 and 4 x 3 on
// the 3x3 and 5x5 shapes: 10-35% faster). AVX2 has 16: 4 x 2 sums, or the
// sums spill to memory.
constexpr int kChannelBlock = kLanes >= 16 ? 8 : 4;

// Below this an image's channels are not shared among threads: at batch 1,
// B-LeNet's 0.1-0.6M MAC convolutions and b-resnet's 1.8M MAC 3x3s ran slower
// on 2 threads than on 1 (the wake-up and the serial layers around them cost
// more than the split saves); B-AlexNet's 2.7-10M MAC convs gain from it.
// (b-resnet trunk at batch 1, 2 threads: 236 -> 219 us with 1M -> 2M.)
constexpr int64_t kMinSplitMacs = int64_t{2} << 20;

// Positions are counted over the padded width: p = oh * PW + ow. Tap
// (c, kh, kw) of position p reads padded[c*PH*PW + kh*PW + kw + p], so a block
// of consecutive positions reads one contiguous run for every tap, with no
// per-row edge. Positions with ow >= OW are computed and later discarded.
template <int COUNT>
void accumulate_block(const float* padded, int64_t plane, int PW, const ConvGeometry& g, const float* weight,
                      int64_t filter, const float* bias, int64_t p, float* wide, int64_t wide_stride) {
  Vec acc[COUNT][kVectors];
  for (int j = 0; j < COUNT; ++j)
    for (int v = 0; v < kVectors; ++v) acc[j][v] = Vec(bias ? bias[j] : 0.0f);
  for (int c = 0; c < g.channels; ++c) {
    for (int kh = 0; kh < g.kernel_h; ++kh) {
      const float* row = padded + c * plane + static_cast<int64_t>(kh) * PW + p;
      const float* w = weight + (static_cast<int64_t>(c) * g.kernel_h + kh) * g.kernel_w;  // (COUNT, ...) by `filter`
      for (int kw = 0; kw < g.kernel_w; ++kw) {
        Vec x[kVectors];
        for (int v = 0; v < kVectors; ++v) x[v] = Vec::load_unaligned(row + kw + v * kLanes);
        for (int j = 0; j < COUNT; ++j) {
          const Vec wj(w[j * filter + kw]);
          for (int v = 0; v < kVectors; ++v) acc[j][v] = xsimd::fma(wj, x[v], acc[j][v]);
        }
      }
    }
  }
  for (int j = 0; j < COUNT; ++j)
    for (int v = 0; v < kVectors; ++v) acc[j][v].store_unaligned(wide + j * wide_stride + p + v * kLanes);
}

}  // namespace

void conv2d_direct_stride1(const float* image, const ConvGeometry& g, const float* weight, const float* bias,
                           int out_channels, float* out, bool split_channels, bool relu) {
  const int OH = g.out_height(), OW = g.out_width();
  const int PH = g.height + 2 * g.pad_h, PW = g.width + 2 * g.pad_w;
  const int64_t plane = static_cast<int64_t>(PH) * PW;
  const int64_t span = static_cast<int64_t>(OH - 1) * PW + OW;            // positions that hold outputs
  const int64_t blocks_end = (span + kBlock - 1) / kBlock * kBlock;       // rounded up to whole blocks
  const int64_t filter = static_cast<int64_t>(g.channels) * g.kernel_h * g.kernel_w;
  // The zero-padded image plus slack for the last block's overhang.
  const float* padded = zero_padded_image(image, g, kBlock);
  thread_local std::vector<float> wide_buffer;  // (O, blocks_end): outputs over the padded width
  if (static_cast<int64_t>(wide_buffer.size()) < out_channels * blocks_end)
    wide_buffer.resize(static_cast<size_t>(out_channels * blocks_end));
  float* wide = wide_buffer.data();

  // Blocks of output channels write disjoint rows of `wide`; the padded
  // image and `wide` belong to this thread and are only read / written in
  // disjoint places by the helpers.
  const int64_t channel_blocks = (out_channels + kChannelBlock - 1) / kChannelBlock;
  const int64_t macs = static_cast<int64_t>(out_channels) * filter * span;
  const int64_t split_work = split_channels && macs >= kMinSplitMacs ? macs : 0;  // 0: this thread alone
  parallel_chunks(channel_blocks, split_work, [&](int64_t first_block, int64_t end_block) {
    for (int64_t block = first_block; block < end_block; ++block) {
      const int o0 = static_cast<int>(block) * kChannelBlock;
      const int count = std::min(kChannelBlock, out_channels - o0);
      const float* w = weight + o0 * filter;
      const float* b = bias ? bias + o0 : nullptr;
      float* wide_o = wide + o0 * blocks_end;
      for (int64_t p = 0; p < span; p += kBlock) {
        switch (count) {
          case 8: accumulate_block<8>(padded, plane, PW, g, w, filter, b, p, wide_o, blocks_end); break;
          case 7: accumulate_block<7>(padded, plane, PW, g, w, filter, b, p, wide_o, blocks_end); break;
          case 6: accumulate_block<6>(padded, plane, PW, g, w, filter, b, p, wide_o, blocks_end); break;
          case 5: accumulate_block<5>(padded, plane, PW, g, w, filter, b, p, wide_o, blocks_end); break;
          case 4: accumulate_block<4>(padded, plane, PW, g, w, filter, b, p, wide_o, blocks_end); break;
          case 3: accumulate_block<3>(padded, plane, PW, g, w, filter, b, p, wide_o, blocks_end); break;
          case 2: accumulate_block<2>(padded, plane, PW, g, w, filter, b, p, wide_o, blocks_end); break;
          default: accumulate_block<1>(padded, plane, PW, g, w, filter, b, p, wide_o, blocks_end); break;
        }
      }
    }
  });
  // Keep the first OW positions of every padded-width row.
  for (int o = 0; o < out_channels; ++o)
    for (int oh = 0; oh < OH; ++oh) {
      float* row = out + (static_cast<int64_t>(o) * OH + oh) * OW;
      const float* wide_row = wide + o * blocks_end + static_cast<int64_t>(oh) * PW;
      if (relu) {
        for (int ow = 0; ow < OW; ++ow) row[ow] = std::max(wide_row[ow], 0.0f);
      } else {
        std::memcpy(row, wide_row, sizeof(float) * OW);
      }
    }
}

bool direct_conv_pays(const ConvGeometry& g, int out_channels, int groups) {
  return g.stride_h == 1 && g.stride_w == 1 && groups == 1 && out_channels <= 32;
}

}  // namespace branchy
