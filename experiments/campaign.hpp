#pragma once
/// The trial scheduler every campaign (mc, hardnn, ...) runs on: a list of jobs, each a pure function of
/// (config, unit, index) that fills a fixed-size record of doubles, executed over OpenMP threads and MPI
/// ranks, made durable by a write-ahead journal plus periodic whole-file rewrites, and resumable by
/// replaying the file and the journal.
///
/// What a campaign supplies: `compute(job, record)` (thread-safe, no shared random state: it keys its
/// streams by the job), `store(job, record)` (puts a result into the campaign's state; called serially)
/// and `flush()` (writes the whole results file from that state, tmp + rename; called on MPI rank 0
/// only). What the scheduler guarantees:
///   - single rank: each finished job is stored, appended to the journal `<out>.journal` (one line,
///     exact hexadecimal floats, one write(2)) before it is counted, and flush() runs at most every
///     `flush_seconds`, after which the journal is emptied; a run killed at any moment keeps every
///     finished job in file + journal;
///   - K ranks: job j of a `run()` call goes to rank j mod K; at the end of the call all ranks exchange
///     their records (all-gather, rank order) and store all of them, and rank 0 flushes;
///   - the stored state after `run()` does not depend on the thread count, the rank count or the order
///     in which jobs finished, because store() places a record by its job, never by arrival.
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
struct Job {
  std::size_t unit = 0;
  std::uint64_t index = 0;
};

/// Write-ahead journal of finished jobs: lines "<unit> <index> <v_0> ... <v_{R-1}> end" with `%a`
/// (exact) doubles. A torn last line (killed mid-write) lacks "end" and is ignored on replay.
class Journal {
 public:
  Journal(std::string path, std::size_t record) : path_(std::move(path)), record_(record) {}
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  const std::string& path() const { return path_; }
  void append(const Job& job, std::span<const double> record);
  /// Empties the journal (after the results file holds every journaled job).
  void clear();
  /// Closes and deletes the journal file.
  void remove();
  /// Calls `store` for every complete line of the journal at `path` (none if it does not exist);
  /// returns how many. Lines with another record length are skipped.
  static std::size_t replay(const std::string& path, std::size_t record,
                            const std::function<void(const Job&, std::span<const double>)>& store);

 private:
  std::string path_;
  std::size_t record_;
  int fd_ = -1;
};

class Scheduler {
 public:
  using Compute = std::function<void(const Job&, std::span<double> record)>;
  using Store = std::function<void(const Job&, std::span<const double> record)>;
  using Flush = std::function<void()>;

  /// `out`: the results file (the journal is `out + ".journal"`); `record`: doubles per job.
  Scheduler(const std::string& out, std::size_t record, Store store, Flush flush, double flush_seconds = 2.0);

  std::size_t record() const { return record_; }
  bool lead() const;

  /// Resume: merges the journal into the state through store() on every rank (call after the campaign
  /// read its results file). Ranks synchronize before returning, so rank 0 may then rewrite and remove
  /// the journal safely. Returns the number of journaled jobs.
  std::size_t replay();
  /// Rank 0: flush() now and empty the journal (start of a run, after a state change the file must show).
  void checkpoint();
  /// Runs `jobs` (see the class comment). Exceptions thrown by compute() are rethrown after the
  /// parallel loop (the first one). `progress` (optional) is ticked once per finished job.
  void run(const std::vector<Job>& jobs, const Compute& compute, Progress* progress = nullptr);
  /// Rank 0: final flush() and removal of the journal.
  void finish();

 private:
  std::size_t record_;
  Store store_;
  Flush flush_;
  double flush_seconds_;
  Journal journal_;
  std::chrono::steady_clock::time_point last_flush_;
};

}  // namespace aimc::experiments
