#include "engine/conv_channel_vector.h"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "engine/error.h"
#include "engine/threads.h"
#include "engine/transpose.h"

namespace branchy {

namespace {

// A full vector, and the half vector (AVX2's 8 lanes within AVX-512) that
// serves 8-15 output channels per group: b-resnext's stride-2 grouped convs
// at base width 4 and b-densenet's 8-filter 3x3s would otherwise leave half
// of every 16-lane vector on zeros. On AMD Zen 4 a 256-bit FMA has the same
// throughput in floats as a 512-bit one (two pipes against one), so the
// half vectors lose nothing there. Elsewhere HalfVec is the full vector.
using FullVec = xsimd::batch<float>;
#if XSIMD_WITH_AVX512F
using HalfVec = xsimd::batch<float, xsimd::avx2>;
#else
using HalfVec = FullVec;
#endif
template <class Vec>
constexpr int lanes_of = static_cast<int>(Vec::size);
constexpr int kLanes = lanes_of<FullVec>;
constexpr int kHalfLanes = lanes_of<HalfVec>;
constexpr bool kWide = kLanes >= 16;  // AVX-512: 32 vector registers (ymm too); AVX2: 16
constexpr int kMaxVectors = 2;        // channel vectors per tile
// Positions per tile for V channel vectors: V*T sums, V weights and one
// broadcast must fit in the register file, or the sums spill.
constexpr int max_tile(int vectors) { return vectors == 2 ? (kWide ? 12 : 6) : (kWide ? 14 : 12); }
// The same for a tile of several whole rows (2 rows of a 7-wide map: 28
// sums, 2 weights and a broadcast take 31 of AVX-512's 32 registers).
constexpr int max_rows_tile(int vectors) { return vectors == 2 ? (kWide ? 14 : 6) : (kWide ? 14 : 12); }

// GCC's predictive commoning carries a tile's inputs from one tap to the next
// in general registers and pays a move and a register broadcast for each,
// where a broadcast from memory is one load: switched off in the tiles
// (clang has no such pass and no such attribute).
#if defined(__GNUC__) && !defined(__clang__)
#define BRANCHY_NO_PREDICTIVE_COMMONING __attribute__((optimize("no-predictive-commoning")))
#else
#define BRANCHY_NO_PREDICTIVE_COMMONING
#endif

// Below this an image's channels are not shared among threads (as in
// conv_direct.cpp: waking the second thread costs more than it saves).
constexpr int64_t kMinSplitMacs = int64_t{2} << 20;

struct TileArgs {
  const float* input;       // padded image at the tile's first tap: row oh*stride_h + kh0, column ow0*stride_w
  int64_t plane;            // floats per padded channel plane
  int padded_width;         // PW
  int64_t row_step;         // floats between the inputs of two output rows (stride_h * PW)
  int channels, kernel_h, kernel_w;
  int kh0, kh1;             // the kernel rows [kh0, kh1) that fall inside the image (the rest read zeros)
  const float* filters;     // packed block of the tile's first channel vector
  int64_t block_floats;     // floats between two packed channel vectors (C*KH*KW*L)
  const float* bias_lanes;  // V*L biases, zeros past the last channel
  bool relu;                // store max(sum, 0)
};

// sums (R*T, V*L) of a tile of R output rows x T positions: position
// r*T + t, channel v*L + l. KW: the kernel's width when known at compile time
// (the tap loop unrolled), 0 for any. PAD >= 0: the rows are padded by PAD
// columns on each side, 'same' padding at stride 1 (KW = 2 PAD + 1), and the
// multiply-adds of taps that fall on the padding are left out (at compile
// time) at the tile's EDGES: 1 = it starts at the row's first column, 2 = it
// ends at its last, 3 = both (it spans whole rows).
template <class Vec, int V, int R, int T, int S, int KW, int PAD = -1, int EDGES = 3>
BRANCHY_NO_PREDICTIVE_COMMONING void convolve_tile(const TileArgs& a, float* sums) {
  constexpr int L = lanes_of<Vec>;
  static_assert(PAD < 0 || (KW == 2 * PAD + 1 && S == 1), "padding columns are left out for 'same' padding only");
  constexpr int image_width = T;  // columns from the tile's first, when it ends at the row's last (PAD >= 0)
  constexpr int P = R * T;
  Vec acc[V][P];
  for (int v = 0; v < V; ++v) {
    const Vec b = Vec::load_unaligned(a.bias_lanes + v * L);
    for (int p = 0; p < P; ++p) acc[v][p] = b;
  }
  const int taps_per_row = KW ? KW : a.kernel_w;
  for (int c = 0; c < a.channels; ++c) {
    for (int kh = a.kh0; kh < a.kh1; ++kh) {
      const float* row = a.input + c * a.plane + static_cast<int64_t>(kh - a.kh0) * a.padded_width;
      const float* w = a.filters + (static_cast<int64_t>(c) * a.kernel_h + kh) * taps_per_row * L;
#pragma GCC unroll 8
      for (int kw = 0; kw < taps_per_row; ++kw) {
        Vec wv[V];
        for (int v = 0; v < V; ++v) wv[v] = Vec::load_aligned(w + kw * L + v * a.block_floats);
        // Each tap broadcasts its inputs from memory: left to itself, the
        // compiler keeps the inputs shared by neighbouring taps in registers
        // (with the tap loop unrolled), and the sums no longer fit.
        const float* tap = row + kw;
        __asm__("" : "+r"(tap));
        for (int r = 0; r < R; ++r)
          for (int t = 0; t < T; ++t) {
            const int column = t * S + kw - PAD;  // in the image from the tile's first column, when PAD >= 0
            if (PAD >= 0 && (((EDGES & 1) && column < 0) || ((EDGES & 2) && column >= image_width))) continue;
            const Vec x(tap[r * a.row_step + t * S]);
            for (int v = 0; v < V; ++v) acc[v][r * T + t] = xsimd::fma(wv[v], x, acc[v][r * T + t]);
          }
      }
    }
  }
  if (a.relu)
    for (int v = 0; v < V; ++v)
      for (int p = 0; p < P; ++p) acc[v][p] = xsimd::select(acc[v][p] < Vec(0.0f), Vec(0.0f), acc[v][p]);  // NaN stays
  for (int p = 0; p < P; ++p)
    for (int v = 0; v < V; ++v) acc[v][p].store_unaligned(sums + p * (V * L) + v * L);
}

using TileFunction = void (*)(const TileArgs&, float*);

// kTiles<Vec, V, S, KW>[T] = convolve_tile<Vec, V, 1, T, S, KW> for T = 1 .. max_tile(V).
template <class Vec, int V, int S, int KW, size_t... I>
constexpr std::array<TileFunction, sizeof...(I) + 1> tile_table(std::index_sequence<I...>) {
  return {nullptr, &convolve_tile<Vec, V, 1, static_cast<int>(I) + 1, S, KW>...};
}
template <class Vec, int V, int S, int KW>
constexpr auto kTiles = tile_table<Vec, V, S, KW>(std::make_index_sequence<max_tile(V)>{});

// 3x3 and 5x5 at stride 1 (most of the networks' convs), and the 1- and
// 2-wide parts of them that a strided conv's input gradient convolves with
// (conv_strided_input_gradient.h), get their tap loop unrolled; the rest
// share the general tiles.
template <class Vec, int V>
TileFunction tile_function(int stride, int kernel_w, int positions) {
  if (stride == 2) return kernel_w == 3 ? kTiles<Vec, V, 2, 3>[positions] : kTiles<Vec, V, 2, 0>[positions];
  switch (kernel_w) {
    case 1: return kTiles<Vec, V, 1, 1>[positions];
    case 2: return kTiles<Vec, V, 1, 2>[positions];
    case 3: return kTiles<Vec, V, 1, 3>[positions];
    case 5: return kTiles<Vec, V, 1, 5>[positions];
    default: return kTiles<Vec, V, 1, 0>[positions];
  }
}

template <class Vec>
TileFunction tile_function(int vectors, int stride, int kernel_w, int positions) {
  return vectors == 2 ? tile_function<Vec, 2>(stride, kernel_w, positions)
                      : tile_function<Vec, 1>(stride, kernel_w, positions);
}

// Tiles at the ends of a row with 'same' padding at stride 1 (3x3 pad 1,
// 5x5 pad 2): the taps on the padding columns left out. A 14-wide row in two
// tiles of 7 skips 2 of a 3x3 kernel's 42 taps per row (5%), 6 of a 5x5's
// 70 (9%): B-AlexNet's 5x5 layer on 14x14 maps.
template <class Vec, int V, int KW, int EDGES, size_t... I>
constexpr std::array<TileFunction, sizeof...(I) + 1> edge_tile_table(std::index_sequence<I...>) {
  return {nullptr, &convolve_tile<Vec, V, 1, static_cast<int>(I) + 1, 1, KW, KW / 2, EDGES>...};
}
template <class Vec, int V, int KW, int EDGES>
constexpr auto kEdgeTiles = edge_tile_table<Vec, V, KW, EDGES>(std::make_index_sequence<max_tile(V)>{});

template <class Vec, int V, int KW>
TileFunction edge_tile(int edges, int positions) {
  if (edges == 1) return kEdgeTiles<Vec, V, KW, 1>[positions];
  if (edges == 2) return kEdgeTiles<Vec, V, KW, 2>[positions];
  return kEdgeTiles<Vec, V, KW, 3>[positions];
}

// The tile for T positions from column ow0 of a row of OW (whole_rows: the
// row is the conv's whole row).
template <class Vec>
TileFunction row_tile(int vectors, const ConvGeometry& g, bool whole_rows, int ow0, int T, int OW) {
  const int edges = (ow0 == 0 ? 1 : 0) | (ow0 + T == OW ? 2 : 0);
  const bool same = g.stride_w == 1 && (g.kernel_w == 3 || g.kernel_w == 5) && g.pad_w == g.kernel_w / 2;
  if (!whole_rows || !same || edges == 0) return tile_function<Vec>(vectors, g.stride_w, g.kernel_w, T);
  if (vectors == 2) return g.kernel_w == 3 ? edge_tile<Vec, 2, 3>(edges, T) : edge_tile<Vec, 2, 5>(edges, T);
  return g.kernel_w == 3 ? edge_tile<Vec, 1, 3>(edges, T) : edge_tile<Vec, 1, 5>(edges, T);
}

// Tiles of R whole rows for the narrow maps, where one row gives too few
// positions to keep the multiply-adds busy per weight load (7 columns:
// B-AlexNet's and the last stages' 7x7 maps, the 7x7 outputs of stride-2
// convs on 14x14 and of their input gradient's phases; 3: B-AlexNet's
// branch 1); nullptr where there is none or the sums would not fit.
// With 'same' padding at stride 1 (pad_w = KW / 2, KW 3 or 5) the taps on
// the padding columns are left out: 2 of a 3x3 kernel's 21 taps per row on a
// 7-wide map, 2 of 9 on a 3-wide one (oneDNN leaves them out too).
template <class Vec, int V, int R, int T, int S>
TileFunction rows_tile(int kernel_w, int pad_w) {
  if constexpr (R * T > max_rows_tile(V)) {
    return nullptr;
  } else {
    if constexpr (S == 1) {
      if (kernel_w == 3 && pad_w == 1) return &convolve_tile<Vec, V, R, T, 1, 3, 1, 3>;
      if (kernel_w == 5 && pad_w == 2) return &convolve_tile<Vec, V, R, T, 1, 5, 2, 3>;
    }
    switch (kernel_w) {  // the tap loop unrolled for the networks' kernels and the phases' 1- and 2-wide parts
      case 1: return &convolve_tile<Vec, V, R, T, S, 1>;
      case 2: return &convolve_tile<Vec, V, R, T, S, 2>;
      case 3: return &convolve_tile<Vec, V, R, T, S, 3>;
      case 5: return &convolve_tile<Vec, V, R, T, S, 5>;
      default: return &convolve_tile<Vec, V, R, T, S, 0>;
    }
  }
}

template <class Vec, int V, int S>
TileFunction rows_tile(int kernel_w, int pad_w, int rows, int width) {
  if (width == 7 && rows <= 2)
    return rows == 2 ? rows_tile<Vec, V, 2, 7, S>(kernel_w, pad_w) : rows_tile<Vec, V, 1, 7, S>(kernel_w, pad_w);
  if (width == 3 && rows <= 4) {
    if (rows == 1) return rows_tile<Vec, V, 1, 3, S>(kernel_w, pad_w);
    if (rows == 2) return rows_tile<Vec, V, 2, 3, S>(kernel_w, pad_w);
    if (rows == 3) return rows_tile<Vec, V, 3, 3, S>(kernel_w, pad_w);
    return rows_tile<Vec, V, 4, 3, S>(kernel_w, pad_w);
  }
  return nullptr;
}

// whole_rows: the tiles cover the conv's rows from their first column (else
// no padding columns are left out). Strides 1 and 2 along the width.
template <class Vec>
TileFunction rows_tile(int vectors, const ConvGeometry& g, bool whole_rows, int rows, int width) {
  const int pad_w = whole_rows ? g.pad_w : -1;
  if (g.stride_w == 2)
    return vectors == 2 ? rows_tile<Vec, 2, 2>(g.kernel_w, pad_w, rows, width)
                        : rows_tile<Vec, 1, 2>(g.kernel_w, pad_w, rows, width);
  return vectors == 2 ? rows_tile<Vec, 2, 1>(g.kernel_w, pad_w, rows, width)
                      : rows_tile<Vec, 1, 1>(g.kernel_w, pad_w, rows, width);
}

// The first vector-aligned float of `buffer`, grown to hold `size` floats from there.
float* aligned_floats(std::vector<float>& buffer, int64_t size) {
  if (static_cast<int64_t>(buffer.size()) < size + kLanes) buffer.resize(static_cast<size_t>(size + kLanes));
  const uintptr_t misalignment = reinterpret_cast<uintptr_t>(buffer.data()) % (sizeof(float) * kLanes);
  return buffer.data() + (misalignment ? kLanes - misalignment / sizeof(float) : 0);
}

template <class Vec>
const float* pack_filters(const float* weight, int out_channels, const ConvGeometry& g, std::vector<float>& storage) {
  constexpr int L = lanes_of<Vec>;
  const int64_t taps = g.column_rows();  // C * KH * KW
  const int64_t blocks = (out_channels + L - 1) / L;
  float* packed = aligned_floats(storage, blocks * taps * L);
  std::fill_n(packed, blocks * taps * L, 0.0f);  // lanes past O stay zero
  // Written in order, read from L filters at once (each read sequentially).
  float* to = packed;
  for (int64_t b = 0; b < blocks; ++b) {
    const int lanes = static_cast<int>(std::min<int64_t>(L, out_channels - b * L));
    const float* filters = weight + b * L * taps;
    for (int64_t tap = 0; tap < taps; ++tap, to += L)
      for (int l = 0; l < lanes; ++l) to[l] = filters[l * taps + tap];
  }
  return packed;
}

template <class Vec>
void convolve_window(const float* padded, int64_t plane, int padded_width, const ConvGeometry& g,
                     const ConvWindow& window, const float* packed, const float* bias, int out_channels, float* out,
                     bool split_channels, bool relu) {
  constexpr int L = lanes_of<Vec>;
  BRANCHY_CHECK(g.stride_w == 1 || g.stride_w == 2, "conv2d_channel_vector: stride_w ", g.stride_w);
  BRANCHY_CHECK(reinterpret_cast<uintptr_t>(packed) % (sizeof(float) * L) == 0,
                "conv2d_channel_vector: packed filters must be aligned to a vector");
  const int OH = window.rows, OW = window.cols;  // outputs computed here
  const int64_t out_plane = static_cast<int64_t>(OH) * OW;
  const int PW = padded_width;
  const int64_t taps = g.column_rows();
  const int64_t block_floats = taps * L;
  // Tiles that leave out the padding columns need to span the conv's rows.
  const bool whole_rows = window.col0 == 0 && window.cols == g.out_width();

  // A row of OW positions in the fewest tiles, of nearly equal sizes; on
  // narrow maps, whole rows R at a time (rows_tile). Units of work: (group of
  // up to kMaxVectors channel vectors, band of R output rows).
  const int vector_blocks = (out_channels + L - 1) / L;
  const int groups = (vector_blocks + kMaxVectors - 1) / kMaxVectors;
  int band = 1;  // R: the most rows a tile takes (a group of fewer vectors fits them too)
  for (int rows = std::min(OH, 4); rows >= 2 && band == 1; --rows)
    if (rows_tile<Vec>(std::min(kMaxVectors, vector_blocks), g, whole_rows, rows, OW)) band = rows;
  const int bands = (OH + band - 1) / band;
  const int64_t macs = static_cast<int64_t>(out_channels) * taps * out_plane;
  const int64_t split_work = split_channels && macs >= kMinSplitMacs ? macs : 0;  // 0: this thread alone
  parallel_chunks(int64_t{groups} * bands, split_work, [&](int64_t first, int64_t end) {
    alignas(64) float sums[std::max(max_tile(1), max_rows_tile(1)) * kMaxVectors * L];
    alignas(64) float bias_lanes[kMaxVectors * L];
    int current_group = -1, vectors = 0, o0 = 0, count = 0, tiles = 0, tile_size = 0;
    for (int64_t item = first; item < end; ++item) {
      const int group = static_cast<int>(item / bands), oh_first = static_cast<int>(item % bands) * band;
      const int oh_end = std::min(OH, oh_first + band);
      if (group != current_group) {
        current_group = group;
        vectors = std::min(kMaxVectors, vector_blocks - group * kMaxVectors);
        o0 = group * kMaxVectors * L;
        count = std::min(vectors * L, out_channels - o0);
        for (int j = 0; j < vectors * L; ++j) bias_lanes[j] = bias && j < count ? bias[o0 + j] : 0.0f;
        tiles = (OW + max_tile(vectors) - 1) / max_tile(vectors);
        tile_size = (OW + tiles - 1) / tiles;
      }
      TileArgs a{nullptr, plane, PW, int64_t{g.stride_h} * PW, g.channels, g.kernel_h, g.kernel_w, 0, 0,
                 packed + static_cast<int64_t>(group) * kMaxVectors * block_floats, block_floats, bias_lanes, relu};
      const int stride = vectors * L;  // floats per position in `sums`
      // One tile: `rows` output rows from oh, T positions from ow0 (T = OW
      // when rows > 1), both counted within the window.
      auto convolve = [&](TileFunction tile, int oh, int rows, int ow0, int T) {
        // Kernel rows over the top padding of the last row or the bottom
        // padding of the first multiply zeros for every row: skipped.
        const int conv_row = window.row0 + oh;
        const int top = conv_row * g.stride_h - g.pad_h;  // image row under kernel row 0 of the first row
        const int last_top = top + (rows - 1) * g.stride_h;
        a.kh0 = std::max(0, -last_top);
        a.kh1 = std::max(a.kh0, std::min(g.kernel_h, g.height - top));
        a.input = padded + static_cast<int64_t>(conv_row * g.stride_h + a.kh0) * PW +
                  static_cast<int64_t>(window.col0 + ow0) * g.stride_w;
        tile(a, sums);
        // Transpose the tile back into the output planes, a vector of
        // channels at a time (its rows * T positions are consecutive there).
        float* y = out + static_cast<int64_t>(o0) * out_plane + static_cast<int64_t>(oh) * OW + ow0;
        const int positions = rows * T;
        for (int v = 0; v < vectors; ++v)
          for (int p0 = 0; p0 < positions; p0 += transpose_block_size())
            transpose_block(sums + p0 * stride + v * L, stride, std::min(transpose_block_size(), positions - p0),
                            std::min(L, count - v * L), y + v * L * out_plane + p0, out_plane);
      };
      if (TileFunction tile = rows_tile<Vec>(vectors, g, whole_rows, oh_end - oh_first, OW)) {
        convolve(tile, oh_first, oh_end - oh_first, 0, OW);
      } else {
        for (int oh = oh_first; oh < oh_end; ++oh)
          for (int ow0 = 0; ow0 < OW; ow0 += tile_size) {
            const int T = std::min(tile_size, OW - ow0);
            convolve(row_tile<Vec>(vectors, g, whole_rows, ow0, T, OW), oh, 1, ow0, T);
          }
      }
    }
  });
}

// ---- weight gradient ------------------------------------------------------

// Positions (summed over the images of a run) per run: the run's transposed
// output gradients and padded images stay in L2 while every (c, kernel
// rows) pass walks them.
constexpr int64_t kPositionsPerRun = 2048;

struct GradientArgs {
  const float* dy_t;        // (images, positions, padded_outs): the run's output gradients, transposed
  int64_t padded_outs;      // floats per position in dy_t (O rounded up to whole vectors)
  const float* images;      // (images, C, PH, PW): the run's padded images, at channel c and kernel row kh0
  int64_t image_floats;     // C * PH * PW
  int count;                // images in the run
  int out_h, out_w, padded_w, stride_h, stride_w;
  float* sums;              // packed (blocks, C, KH, KW, L) at channel vector v0, channel c, row kh0
  int64_t block_floats;     // C * KH * KW * L
};

// V vectors of output channels x R kernel rows x KW taps: sums in registers
// over every position of every image of the run.
template <class Vec, int V, int R, int KW>
BRANCHY_NO_PREDICTIVE_COMMONING void accumulate_taps(const GradientArgs& a) {
  constexpr int L = lanes_of<Vec>;
  Vec acc[R][KW][V];
  for (int r = 0; r < R; ++r)
    for (int kw = 0; kw < KW; ++kw)
      for (int v = 0; v < V; ++v) acc[r][kw][v] = Vec::load_aligned(a.sums + v * a.block_floats + (r * KW + kw) * L);
  const float* d = a.dy_t;
  for (int i = 0; i < a.count; ++i) {
    const float* image = a.images + i * a.image_floats;
    for (int oh = 0; oh < a.out_h; ++oh) {
      const float* x = image + static_cast<int64_t>(oh) * a.stride_h * a.padded_w;
      for (int ow = 0; ow < a.out_w; ++ow, x += a.stride_w, d += a.padded_outs) {
        Vec dv[V];
        for (int v = 0; v < V; ++v) dv[v] = Vec::load_aligned(d + v * L);
        for (int r = 0; r < R; ++r)
          for (int kw = 0; kw < KW; ++kw) {
            const Vec xb(x[r * a.padded_w + kw]);
            for (int v = 0; v < V; ++v) acc[r][kw][v] = xsimd::fma(dv[v], xb, acc[r][kw][v]);
          }
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int kw = 0; kw < KW; ++kw)
      for (int v = 0; v < V; ++v) acc[r][kw][v].store_aligned(a.sums + v * a.block_floats + (r * KW + kw) * L);
}

// Kernel rows summed together: V*R*KW sums, V loads and one broadcast fill
// the register file (and no more rows than the square kernel has).
constexpr int rows_together(int vectors, int kernel_w) {
  const int registers = kWide ? 32 : 16;
  return std::clamp((registers - vectors - 1) / (vectors * kernel_w), 1, kernel_w);
}

template <class Vec, int V, int KW>
void accumulate_rows(GradientArgs a, int kernel_h, int64_t row_floats) {
  constexpr int L = lanes_of<Vec>;
  constexpr int R = rows_together(V, KW);
  int kh = 0;
  for (; kh + R <= kernel_h; kh += R, a.images += R * row_floats, a.sums += R * KW * L)
    accumulate_taps<Vec, V, R, KW>(a);
  for (; kh < kernel_h; ++kh, a.images += row_floats, a.sums += KW * L) accumulate_taps<Vec, V, 1, KW>(a);
}

template <class Vec, int KW>
void accumulate_kernel(int vectors, const GradientArgs& a, int kernel_h, int64_t row_floats) {
  if (vectors == 2) accumulate_rows<Vec, 2, KW>(a, kernel_h, row_floats);
  else accumulate_rows<Vec, 1, KW>(a, kernel_h, row_floats);
}

template <class Vec>
void weight_gradient(const float* images, int64_t image_stride, const float* dy, int64_t dy_stride,
                     int64_t count, const ConvGeometry& g, int out_channels, float* d_weight) {
  constexpr int L = lanes_of<Vec>;
  BRANCHY_CHECK(g.kernel_h == g.kernel_w && (g.kernel_w == 3 || g.kernel_w == 5),
                "conv2d_channel_vector_weight_gradient: kernel ", g.kernel_h, "x", g.kernel_w);
  const int OH = g.out_height(), OW = g.out_width();
  const int64_t positions = static_cast<int64_t>(OH) * OW;
  const int PH = g.height + 2 * g.pad_h, PW = g.width + 2 * g.pad_w;
  const int64_t plane = static_cast<int64_t>(PH) * PW;
  const int64_t image_floats = g.channels * plane;
  const int blocks = (out_channels + L - 1) / L;
  const int64_t padded_outs = int64_t{blocks} * L;
  const int64_t taps = g.column_rows();
  const int64_t block_floats = taps * L;
  const int64_t per_run = std::clamp<int64_t>(kPositionsPerRun / positions, 1, count);

  // Per thread, grown once: the sums (packed as the forward's filters), the
  // run's transposed output gradients and its zero-padded images.
  thread_local std::vector<float> sums_buffer, dy_buffer, image_buffer;
  float* sums = aligned_floats(sums_buffer, blocks * block_floats);
  float* dy_t = aligned_floats(dy_buffer, per_run * positions * padded_outs);
  float* padded = aligned_floats(image_buffer, per_run * image_floats);
  std::memset(sums, 0, sizeof(float) * blocks * block_floats);

  for (int64_t first = 0; first < count; first += per_run) {
    const int run = static_cast<int>(std::min(per_run, count - first));
    std::memset(padded, 0, sizeof(float) * run * image_floats);
    for (int i = 0; i < run; ++i) {
      const float* image = images + (first + i) * image_stride;
      for (int c = 0; c < g.channels; ++c)
        for (int h = 0; h < g.height; ++h)
          std::memcpy(padded + i * image_floats + c * plane + static_cast<int64_t>(h + g.pad_h) * PW + g.pad_w,
                      image + (static_cast<int64_t>(c) * g.height + h) * g.width, sizeof(float) * g.width);
      // dy_t[i][p][o] = dy[i][o][p], zeros past the last channel.
      const float* d = dy + (first + i) * dy_stride;
      float* to = dy_t + i * positions * padded_outs;
      const int B = transpose_block_size();
      for (int o0 = 0; o0 < out_channels; o0 += B)
        for (int64_t p0 = 0; p0 < positions; p0 += B)
          transpose_block(d + o0 * positions + p0, positions, std::min(B, out_channels - o0),
                          static_cast<int>(std::min<int64_t>(B, positions - p0)), to + p0 * padded_outs + o0,
                          padded_outs);
      if (out_channels < padded_outs)
        for (int64_t p = 0; p < positions; ++p)
          std::fill(to + p * padded_outs + out_channels, to + (p + 1) * padded_outs, 0.0f);
    }
    for (int b = 0; b < blocks; b += kMaxVectors) {
      const int vectors = std::min(kMaxVectors, blocks - b);
      for (int c = 0; c < g.channels; ++c) {
        GradientArgs a{dy_t + int64_t{b} * L, padded_outs, padded + c * plane, image_floats, run,
                       OH, OW, PW, g.stride_h, g.stride_w,
                       sums + b * block_floats + static_cast<int64_t>(c) * g.kernel_h * g.kernel_w * L,
                       block_floats};
        if (g.kernel_w == 3) accumulate_kernel<Vec, 3>(vectors, a, g.kernel_h, PW);
        else accumulate_kernel<Vec, 5>(vectors, a, g.kernel_h, PW);
      }
    }
  }
  // d_weight[o][tap] += sums[o / L][tap][o % L]
  for (int o = 0; o < out_channels; ++o) {
    const float* from = sums + (o / L) * block_floats + o % L;
    float* to = d_weight + o * taps;
    for (int64_t tap = 0; tap < taps; ++tap) to[tap] += from[tap * L];
  }
}

// Half vectors where the channels would fill less than one full vector.
bool half_vectors(int out_channels) { return kHalfLanes < kLanes && out_channels < kLanes; }

}  // namespace

int channel_vector_lanes() { return kLanes; }

int channel_vector_lanes(int out_channels) { return half_vectors(out_channels) ? kHalfLanes : kLanes; }

int min_channel_vector_lanes() { return kHalfLanes; }

const float* pack_channel_vector_filters(const float* weight, int out_channels, const ConvGeometry& g,
                                        std::vector<float>& storage) {
  return half_vectors(out_channels) ? pack_filters<HalfVec>(weight, out_channels, g, storage)
                                    : pack_filters<FullVec>(weight, out_channels, g, storage);
}

void conv2d_channel_vector(const float* image, const ConvGeometry& g, const float* packed, const float* bias,
                           int out_channels, float* out, bool split_channels, bool relu) {
  const int PW = g.width + 2 * g.pad_w;
  const int64_t plane = static_cast<int64_t>(g.height + 2 * g.pad_h) * PW;
  conv2d_channel_vector_window(zero_padded_image(image, g, 0), plane, PW, g, ConvWindow{0, g.out_height(), 0, g.out_width()},
                               packed, bias, out_channels, out, split_channels, relu);
}

void conv2d_channel_vector_window(const float* padded, int64_t plane, int padded_width, const ConvGeometry& g,
                                  const ConvWindow& window, const float* packed, const float* bias, int out_channels,
                                  float* out, bool split_channels, bool relu) {
  if (half_vectors(out_channels))
    convolve_window<HalfVec>(padded, plane, padded_width, g, window, packed, bias, out_channels, out, split_channels, relu);
  else
    convolve_window<FullVec>(padded, plane, padded_width, g, window, packed, bias, out_channels, out, split_channels, relu);
}

void conv2d_channel_vector_weight_gradient(const float* images, int64_t image_stride, const float* dy,
                                           int64_t dy_stride, int64_t count, const ConvGeometry& g,
                                           int out_channels, float* d_weight) {
  if (half_vectors(out_channels))
    weight_gradient<HalfVec>(images, image_stride, dy, dy_stride, count, g, out_channels, d_weight);
  else
    weight_gradient<FullVec>(images, image_stride, dy, dy_stride, count, g, out_channels, d_weight);
}

}  // namespace branchy
