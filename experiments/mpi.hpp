#pragma once
/// The little MPI that campaigns need: rank, size, all-gather of doubles, abort. Built on Debian's
/// OpenMPI when CMake finds it (AIMC_HAVE_MPI); otherwise (or when the process was not started by
/// mpirun) a single rank. MPI is initialized only under a launcher (its environment variables are
/// set), so a plain `aimc ...` never touches MPI.
#include <vector>

namespace aimc::experiments {

class Mpi {
 public:
  /// The process-wide instance.
  static Mpi& world();
  /// Initializes MPI if the process runs under mpirun/srun (call once, early in main).
  void init(int* argc, char*** argv);
  /// Finalizes MPI if it was initialized.
  void finalize();
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool active() const { return active_; }
  /// Concatenation, in rank order, of every rank's `local` (all ranks receive the result).
  std::vector<double> allgather(const std::vector<double>& local) const;
  /// Ends every rank (after a fatal error on one of them).
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0, size_ = 1;
  bool active_ = false;
};

}  // namespace aimc::experiments
