// compare_models — are two checkpoints the same weights, up to a tolerance?
//
//   compare_models A.safetensors B.safetensors TOLERANCE
//
// For every tensor (same names and shapes in both files, else exit 2) it
// measures the largest difference relative to the tensor's scale,
//   max_i |a_i - b_i| / max(max_i |a_i|, 1e-6),
// prints the worst tensor and exits 1 when that exceeds TOLERANCE, else 0.
// The MPI tests (tests/mpi/run_mpi_tests.sh) compare a 2-rank run with a
// 1-rank run of the same global batch with it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "formats/checkpoint.h"

using namespace branchy;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: compare_models A.safetensors B.safetensors TOLERANCE\n");
    return 2;
  }
  try {
    const Checkpoint a = load_safetensors(argv[1]);
    const Checkpoint b = load_safetensors(argv[2]);
    const double tolerance = std::atof(argv[3]);
    if (a.tensors.size() != b.tensors.size()) {
      std::fprintf(stderr, "compare_models: %zu tensors against %zu\n", a.tensors.size(), b.tensors.size());
      return 2;
    }
    double worst = 0;
    std::string worst_name = "(none)";
    for (const NamedTensor& t : a.tensors) {
      const Tensor* other = b.find(t.name);
      if (!other || other->shape() != t.tensor.shape()) {
        std::fprintf(stderr, "compare_models: %s is missing or of another shape in %s\n", t.name.c_str(), argv[2]);
        return 2;
      }
      double scale = 1e-6, largest_difference = 0;
      for (int64_t i = 0; i < t.tensor.numel(); ++i) {
        scale = std::max(scale, static_cast<double>(std::fabs(t.tensor[i])));
        largest_difference = std::max(largest_difference, static_cast<double>(std::fabs(t.tensor[i] - (*other)[i])));
      }
      if (largest_difference / scale >= worst) {
        worst = largest_difference / scale;
        worst_name = t.name;
      }
    }
    std::printf("largest relative difference %.3g (tensor %s), tolerance %.3g: %s\n", worst, worst_name.c_str(),
                tolerance, worst <= tolerance ? "same" : "DIFFERENT");
    return worst <= tolerance ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "compare_models: %s\n", e.what());
    return 2;
  }
}
