#include "engine/communicator.h"

#include <cstdlib>

namespace branchy {

namespace {

// One process: its values are already the sum over all ranks.
class SingleProcess : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void sum(float*, int64_t) override {}
  void sum(double*, int64_t) override {}
  void sum(int64_t*, int64_t) override {}
  void start_sum(float*, int64_t) override {}
  void finish_sums() override {}
  void advance_sums() override {}
  void broadcast(void*, int64_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(int status) override { std::exit(status); }
};

}  // namespace

Communicator& single_process() {
  static SingleProcess instance;
  return instance;
}

void abort_job_if_distributed(int status) {
  Communicator* group = started_world();
  if (group && group->size() > 1) group->abort(status);
}

}  // namespace branchy
