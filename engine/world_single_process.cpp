// world() of the default build: no MPI, one process. `make MPI=1` links
// engine/mpi/world_mpi.cpp in its place.
#include "engine/communicator.h"

namespace branchy {

Communicator& world() { return single_process(); }

Communicator* started_world() { return &single_process(); }

}  // namespace branchy
