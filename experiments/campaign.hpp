#pragma once
/// The trial scheduler every campaign (mc, hardnn, ...) runs on: a list of jobs, each a pure function of
/// (config, unit, index) that fills a fixed-size record of doubles, executed over OpenMP threads and MPI
/// ranks, made durable by write-ahead journals plus whole-file rewrites, and resumable by replaying the
/// file and the journals.
///
/// What a campaign supplies: `compute(job, record)` (thread-safe, no shared random state: it keys its
/// streams by the job), `store(job, record)` (puts a result into the campaign's state; called serially)
/// and `flush()` (writes the whole results file from that state through aimc::replace_h5; called on MPI
/// rank 0 only). What the scheduler guarantees:
///   - every rank appends each finished job to its own journal (`<out>.journal` on rank 0,
///     `<out>.journal.<r>` on rank r > 0; one line, exact hexadecimal floats, one write(2)) before the
///     job is counted, so a run killed at any moment, on any rank, keeps every finished job in file +
///     journals;
///   - single rank: flush() runs at most every `flush_seconds`, after which the journal is emptied;
///   - K ranks: job j of a `run()` call goes to rank j mod K; at the end of the call all ranks exchange
///     their records (all-gather, rank order) and store all of them, rank 0 flushes, and only then does
///     each rank empty its journal;
///   - replay() reads the journals of every rank that ever wrote one, so a run may be resumed with any
///     rank count;
///   - the stored state after `run()` does not depend on the thread count, the rank count or the order
///     in which jobs finished, because store() places a record by its job, never by arrival;
///   - SIGINT/SIGTERM while the scheduler exists: no new job starts, the jobs in flight finish and are
///     journaled, the journal is synced, and run() throws an Error that says how to resume. A second
///     signal ends the process at once (the journal is on disk already).
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/progress.hpp"

namespace aimc::experiments {

/// One unit of campaign work: `index` of `unit` (mc: trial `index` of sweep point `unit`; hardnn:
/// injection batch `index` of feature map `unit`).
/// Units and indices are below this (2^53): the MPI exchange carries them as doubles (Scheduler::run
/// throws otherwise).
inline constexpr std::uint64_t kMaxJobId = std::uint64_t(1) << 53;
struct Job {
  std::size_t unit = 0;
  std::uint64_t index = 0;
};

/// Write-ahead journal of finished jobs: lines "<unit> <index> <v_0> ... <v_{R-1}> end\n" with `%a`
/// (exact) doubles.
class Journal {
 public:
  Journal(std::string path, std::size_t record) : path_(std::move(path)), record_(record) {}
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  const std::string& path() const { return path_; }
  void append(const Job& job, std::span<const double> record);
  /// fsync(2) of what was appended (no-op if nothing was).
  void sync();
  /// Empties the journal (after the results file holds every journaled job).
  void clear();
  /// Closes and deletes the journal file.
  void remove();
  /// Calls `store` for every record of the journal at `path` (none if it does not exist); returns how
  /// many. A last line without its newline (a write cut short by a kill or a full disk) is dropped with
  /// a warning on stderr; any other line that is not a record of `record` values throws an Error naming
  /// the journal and the line number. Numbers are parsed whole, never read as 0 by default.
  static std::size_t replay(const std::string& path, std::size_t record,
                            const std::function<void(const Job&, std::span<const double>)>& store);

 private:
  std::string path_;
  std::size_t record_;
  int fd_ = -1;
};

/// The journal file of MPI rank `rank` for results file `out`.
std::string journal_path(const std::string& out, int rank);
/// Every journal file of `out` on disk (rank 0's first, then by rank).
std::vector<std::string> journal_files(const std::string& out);

class Scheduler {
 public:
  using Compute = std::function<void(const Job&, std::span<double> record)>;
  using Store = std::function<void(const Job&, std::span<const double> record)>;
  using Flush = std::function<void()>;

  /// `out`: the results file; `record`: doubles per job. Installs the SIGINT/SIGTERM handlers.
  Scheduler(const std::string& out, std::size_t record, Store store, Flush flush, double flush_seconds = 2.0);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  std::size_t record() const { return record_; }
  bool lead() const;

  /// Resume: merges every rank's journal into the state through store() on every rank (call after the
  /// campaign read its results file). Ranks synchronize before returning. Returns the number of
  /// journaled jobs.
  std::size_t replay();
  /// All ranks: rank 0 flush()es now, then every rank empties its journal (start of a run, after a state
  /// change the file must show).
  void checkpoint();
  /// Runs `jobs` (see the class comment). Exceptions thrown by compute() or by writing are rethrown after
  /// the parallel loop (the first one); no new job starts once one was thrown. `progress` (optional) is
  /// ticked once per finished job.
  void run(const std::vector<Job>& jobs, const Compute& compute, Progress* progress = nullptr);
  /// All ranks: final flush() on rank 0, then removal of every journal.
  void finish();

 private:
  void clear_journals();

  std::string out_;
  std::size_t record_;
  Store store_;
  Flush flush_;
  double flush_seconds_;
  Journal journal_;
  std::chrono::steady_clock::time_point last_flush_;
  std::uint64_t finished_ = 0;    ///< jobs finished by this process (for the interruption message)
  std::uint64_t stop_after_ = 0;  ///< AIMC_STOP_AFTER_JOBS (0: none)
};

}  // namespace aimc::experiments
