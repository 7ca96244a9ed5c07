// world() of the MPI build (`make MPI=1`, compiled by mpicxx): the ranks that
// mpirun started, over a private copy of MPI_COMM_WORLD. Linked in place of
// engine/world_single_process.cpp; the only file of branchy that names MPI.
// MPI's C interface only: Open MPI's deprecated C++ bindings do not compile
// cleanly under -Wextra -Werror (function-type casts in their headers).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <vector>

#include "engine/communicator.h"
#include "engine/error.h"

namespace branchy {

namespace {

// MPI counts are ints: a larger sum goes in pieces of at most INT_MAX values.
constexpr int64_t largest_piece = INT_MAX;

class MpiWorld : public Communicator {
 public:
  MpiWorld() {
    // Only the main thread calls MPI; OpenMP threads compute between calls.
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  // A normal exit; a failing rank never gets here (it called abort()).
  ~MpiWorld() override {
    finish_sums();
    MPI_Comm_free(&comm_);
    MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void sum(float* values, int64_t n) override { sum_in_pieces(values, n, MPI_FLOAT); }
  void sum(double* values, int64_t n) override { sum_in_pieces(values, n, MPI_DOUBLE); }
  void sum(int64_t* values, int64_t n) override { sum_in_pieces(values, n, MPI_INT64_T); }

  void start_sum(float* values, int64_t n) override {
    BRANCHY_CHECK(n <= largest_piece, "a started sum of ", n, " values is larger than MPI's count allows");
    MPI_Request request;
    MPI_Iallreduce(MPI_IN_PLACE, values, static_cast<int>(n), MPI_FLOAT, MPI_SUM, comm_, &request);
    pending_.push_back(request);
    advance_sums();
  }

  // A test of the pending sums is what moves them on in Open MPI.
  void advance_sums() override {
    if (pending_.empty()) return;
    int all_done = 0;
    MPI_Testall(static_cast<int>(pending_.size()), pending_.data(), &all_done, MPI_STATUSES_IGNORE);
  }

  void finish_sums() override {
    MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
    pending_.clear();
  }

  void broadcast(void* bytes, int64_t n, int root) override {
    char* data = static_cast<char*>(bytes);
    for (int64_t begin = 0; begin < n; begin += largest_piece)
      MPI_Bcast(data + begin, static_cast<int>(std::min(largest_piece, n - begin)), MPI_BYTE, root, comm_);
  }

  void barrier() override { MPI_Barrier(comm_); }

  [[noreturn]] void abort(int status) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status);  // MPI_Abort does not return; this tells the compiler so
  }

 private:
  template <typename T>
  void sum_in_pieces(T* values, int64_t n, MPI_Datatype type) {
    for (int64_t begin = 0; begin < n; begin += largest_piece)
      MPI_Allreduce(MPI_IN_PLACE, values + begin, static_cast<int>(std::min(largest_piece, n - begin)), type,
                    MPI_SUM, comm_);
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::vector<MPI_Request> pending_;  // started sums not yet finished
};

MpiWorld* the_world = nullptr;  // set once world() has started MPI

}  // namespace

Communicator& world() {
  static MpiWorld instance;  // MPI_Init on first use, MPI_Finalize at exit
  the_world = &instance;
  return instance;
}

Communicator* started_world() { return the_world; }

}  // namespace branchy
