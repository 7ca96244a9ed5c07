// branch_parts.h — the classifier ends that the networks' branches share.
#pragma once

#include <string>

#include "engine/rng.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/maxpool.h"
#include "nets/sequential.h"

namespace branchy {

// Flatten, then a linear layer `name` to `out`, sized from what `s` gives for input `in`.
inline void add_classifier(Sequential& s, const std::string& name, const Shape& in, int out, Rng& rng) {
  s.emplace<Flatten>("flatten");
  s.emplace<Linear>(name, checked_int(s.out_shape(in).sample_numel(), "classifier input"), out, rng);
}

// Max-pool 3/2 (ceil mode, Chainer's cover_all) named `pool_name`, then the classifier "fc".
inline void add_pooled_classifier(Sequential& s, const std::string& pool_name, const Shape& in, int classes,
                                  Rng& rng) {
  s.emplace<MaxPool2d>(pool_name, 3, 2, 0, true);
  add_classifier(s, "fc", in, classes, rng);
}

}  // namespace branchy
