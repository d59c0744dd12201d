#include "experiments/mpi.hpp"

#include <cstdlib>

#ifdef AIMC_HAVE_MPI
#include <mpi.h>
#endif

namespace aimc::experiments {

Mpi& Mpi::world() {
  static Mpi m;
  return m;
}

void Mpi::init(int* argc, char*** argv) {
#ifdef AIMC_HAVE_MPI
  // Launched by a process manager? (OpenMPI's mpirun, PMIx, PMI-1/2, Slurm)
  const bool launched = std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_SIZE");
  if (!launched || active_) return;
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  active_ = true;
#else
  (void)argc;
  (void)argv;
#endif
}

void Mpi::finalize() {
#ifdef AIMC_HAVE_MPI
  if (active_) MPI_Finalize();
#endif
  active_ = false;
}

std::vector<double> Mpi::allgather(const std::vector<double>& local) const {
#ifdef AIMC_HAVE_MPI
  if (active_ && size_ > 1) {
    int n = int(local.size());
    std::vector<int> counts(static_cast<std::size_t>(size_)), displs(static_cast<std::size_t>(size_));
    MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
    int total = 0;
    for (int i = 0; i < size_; ++i) {
      displs[std::size_t(i)] = total;
      total += counts[std::size_t(i)];
    }
    std::vector<double> all(static_cast<std::size_t>(total));
    MPI_Allgatherv(local.data(), n, MPI_DOUBLE, all.data(), counts.data(), displs.data(), MPI_DOUBLE, MPI_COMM_WORLD);
    return all;
  }
#endif
  return local;
}

void Mpi::abort(int code) const {
#ifdef AIMC_HAVE_MPI
  if (active_ && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace aimc::experiments
