// communicator.h — the processes of one job, and the collective operations
// that data-parallel training and evaluation need (MPI's, by another name).
//
// Every rank runs the same program on its share of the data. The default
// build has one process: single_process() and world() are the same object,
// every sum returns its input and every broadcast copies nothing. `make MPI=1`
// links engine/mpi/world_mpi.cpp instead of engine/world_single_process.cpp,
// and world() then spans the ranks mpirun started. No other file names MPI.
//
// Requires: every rank calls the same collectives (sum, start_sum,
//   finish_sums, broadcast, barrier) in the same order with the same counts,
//   as MPI does; only the thread that created world() calls them.
// Ensures: after sum() every rank holds the same values (bit for bit: the
//   MPI library reduces each element once and sends the result to all).
// Fails: a rank that cannot go on must not leave the others waiting in a
//   collective: it prints its one-line error and calls abort(), which ends
//   every rank of the job (bin/cli.cpp does this for every command).
#pragma once

#include <cstdint>

namespace branchy {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;  // 0 .. size() - 1
  virtual int size() const = 0;  // number of processes in the job
  bool is_root() const { return rank() == 0; }

  // values (n) on every rank become their element-wise sum over the ranks.
  virtual void sum(float* values, int64_t n) = 0;
  virtual void sum(double* values, int64_t n) = 0;
  virtual void sum(int64_t* values, int64_t n) = 0;

  // The same float sum, started now and completed by finish_sums(), so that
  // it can travel while the caller computes (gradient buckets during
  // backward). The caller leaves `values` alone until finish_sums().
  // Each call also lets earlier started sums progress.
  virtual void start_sum(float* values, int64_t n) = 0;
  virtual void finish_sums() = 0;
  // Lets started sums move on, returning at once. MPI libraries such as
  // Open MPI advance non-blocking collectives only inside MPI calls, so a
  // caller that computes for long between starts calls this now and then.
  virtual void advance_sums() = 0;

  // n bytes of rank `root` copied into `bytes` on every other rank.
  virtual void broadcast(void* bytes, int64_t n, int root) = 0;
  virtual void barrier() = 0;

  // Ends every rank of the job with exit status `status` (MPI_Abort).
  [[noreturn]] virtual void abort(int status) = 0;
};

// A job of one process: rank 0 of size 1.
Communicator& single_process();

// The job this program runs in: all ranks under mpirun in the MPI build
// (initialising MPI on first use), single_process() otherwise.
Communicator& world();

// world() once it has been called (MPI starts then), else nullptr.
Communicator* started_world();

// When started_world() has more than one rank, ends the whole job with
// `status` so that no rank waits for this one; otherwise returns.
void abort_job_if_distributed(int status);

}  // namespace branchy
