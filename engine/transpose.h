// transpose.h — a small block of floats transposed in vector registers.
//
//   to[c * to_stride + r] = from[r * from_stride + c]   for r < rows, c < cols
//
// The channel-vector convolutions (conv_channel_vector.h) keep a tile as
// (positions, channels) in registers and need it back as (channels,
// positions) planes, and their weight gradient needs the output gradient the
// other way round. Element by element that is one load and one store per
// float, a quarter of the tile's time on a 7x7 map; a block of L x L floats
// (L = lanes of a vector) goes through the registers in log2(L) rounds of
// shuffles instead (the textbook unpack / shuffle network), with masked loads
// and stores for a partial block.
//
// Requires rows, cols in 0 .. transpose_block_size(); the two blocks do not
// overlap. The reference twin is the loop above.
#pragma once

#include <cstdint>

namespace branchy {

// Largest rows and cols transpose_block takes: the lanes of a vector
// (16 with AVX-512, 8 with AVX2).
int transpose_block_size();

void transpose_block(const float* from, int64_t from_stride, int rows, int cols, float* to, int64_t to_stride);

namespace reference {
void transpose_block(const float* from, int64_t from_stride, int rows, int cols, float* to, int64_t to_stride);
}  // namespace reference

}  // namespace branchy
