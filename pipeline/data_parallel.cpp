#include "pipeline/data_parallel.h"

#include <algorithm>
#include <cstdio>

#include "engine/error.h"
#include "layers/batchnorm.h"

namespace branchy {

std::string checksum_text(uint64_t checksum) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(checksum));
  return text;
}

SampleRange part_of_samples(int64_t n, int rank, int ranks) {
  return {n * rank / ranks, n * (rank + 1) / ranks};
}

SampleRange part_of_batches(int64_t n, int64_t batch, int rank, int ranks) {
  const SampleRange batches = part_of_samples((n + batch - 1) / batch, rank, ranks);
  return {std::min(n, batches.begin * batch), std::min(n, batches.end * batch)};
}

void copy_from_root(Communicator& group, const std::vector<Tensor*>& tensors) {
  if (group.size() == 1) return;
  for (Tensor* t : tensors) group.broadcast(t->data(), t->numel() * static_cast<int64_t>(sizeof(float)), 0);
}

void average_over_ranks(Communicator& group, const std::vector<Tensor*>& tensors) {
  if (group.size() == 1) return;  // x / 1 is x, but skipping it says so
  const float ranks = static_cast<float>(group.size());
  for (Tensor* t : tensors) {
    group.sum(t->data(), t->numel());
    for (int64_t i = 0; i < t->numel(); ++i) (*t)[i] /= ranks;
  }
}

std::vector<Tensor*> parameter_values(const std::vector<ParamRef>& params) {
  std::vector<Tensor*> values;
  for (const ParamRef& p : params) values.push_back(&p.param->value);
  return values;
}

std::vector<Tensor*> buffer_values(const std::vector<ParamRef>& params) {
  std::vector<Tensor*> values;
  for (const ParamRef& p : params)
    if (!p.param->trainable) values.push_back(&p.param->value);
  return values;
}

uint64_t parameter_checksum(const std::vector<ParamRef>& params) {
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a offset basis
  for (const ParamRef& p : params) {
    const unsigned char* bytes = reinterpret_cast<const unsigned char*>(p.param->value.data());
    const int64_t n = p.param->value.numel() * static_cast<int64_t>(sizeof(float));
    for (int64_t i = 0; i < n; ++i) hash = (hash ^ bytes[i]) * 0x100000001b3ull;  // FNV prime
  }
  return hash;
}

uint64_t check_ranks_agree(Communicator& group, const std::vector<ParamRef>& params, const std::string& when) {
  const uint64_t mine = parameter_checksum(params);
  uint64_t root = mine;
  group.broadcast(&root, sizeof root, 0);
  int64_t differing = mine != root;
  group.sum(&differing, 1);
  BRANCHY_CHECK(differing == 0, differing, " of ", group.size(), " ranks hold other parameters than rank 0 ", when,
                " (this rank's checksum ", checksum_text(mine), ", rank 0's ", checksum_text(root), ")");
  return mine;
}

void set_batch_norm_group(BranchyNet& net, Communicator* group) {
  net.for_each_layer([group](Layer& layer) {
    if (auto* norm = dynamic_cast<BatchNorm2d*>(&layer)) norm->set_statistics_group(group);
  });
}

}  // namespace branchy
