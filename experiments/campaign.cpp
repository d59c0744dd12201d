#include "experiments/campaign.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "core/durable.hpp"
#include "core/error.hpp"
#include "experiments/mpi.hpp"

namespace aimc::experiments {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Signals

namespace {

/// The signal that asked the running campaign to stop (0: none). Lock-free, so the handler may set it.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_stop_signal(int sig) {
  if (g_stop_signal.load() != 0) {  // second signal: the user insists; the journal is on disk already
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_stop_signal.store(sig);
}

struct SignalGuard {
  struct sigaction old_int {}, old_term {};
  SignalGuard() {
    g_stop_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    // A signal the process was started with ignored (a background job of a script ignores SIGINT) stays
    // ignored.
    sigaction(SIGINT, nullptr, &old_int);
    sigaction(SIGTERM, nullptr, &old_term);
    if (old_int.sa_handler != SIG_IGN) sigaction(SIGINT, &sa, nullptr);
    if (old_term.sa_handler != SIG_IGN) sigaction(SIGTERM, &sa, nullptr);
  }
  ~SignalGuard() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

/// One guard for all schedulers alive in the process (a campaign has one; tests may nest).
int g_guards = 0;
SignalGuard* g_guard = nullptr;

/// Not a signal number: the stop asked for by AIMC_STOP_AFTER_JOBS.
constexpr int kStopAfterJobs = -1;

const char* signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == kStopAfterJobs ? "AIMC_STOP_AFTER_JOBS" : "a signal";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Journal

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

void Journal::append(const Job& job, std::span<const double> record) {
  if (fd_ == -2) throw Error(path_ + ": the journal could not be written earlier in this run");
  if (fd_ < 0) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      fd_ = -1;
      throw Error(path_ + ": cannot write the journal: " + std::strerror(errno));
    }
  }
  std::string line = std::to_string(job.unit) + " " + std::to_string(job.index);
  char b[64];
  for (double v : record) {
    std::snprintf(b, sizeof b, " %a", v);
    line += b;
  }
  line += " end\n";
  // A short write (full disk, file-size limit) is retried for the rest, which then reports the reason.
  try {
    write_all(fd_, line, path_, "cannot write the journal");
  } catch (...) {
    ::close(fd_);
    fd_ = -2;  // a torn line may now end the file: nothing may follow it
    throw;
  }
}

void Journal::sync() {
  if (fd_ >= 0) sync_fd(fd_, path_);
}

void Journal::clear() {
  if (fd_ >= 0) {
    if (::ftruncate(fd_, 0) != 0) throw Error(path_ + ": cannot truncate the journal: " + std::strerror(errno));
    return;
  }
  std::error_code ec;
  fs::remove(path_, ec);  // a journal left by an earlier (merged) run
}

void Journal::remove() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  std::error_code ec;
  fs::remove(path_, ec);
}

namespace {

bool parse_u64(const std::string& s, std::uint64_t& v) {
  if (s.empty() || s.size() > 20 || s[0] < '0' || s[0] > '9') return false;
  errno = 0;
  char* end = nullptr;
  v = std::strtoull(s.c_str(), &end, 10);
  return errno == 0 && *end == '\0';
}

bool parse_double(const std::string& s, double& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);  // %a output, "inf", "nan"; ERANGE cannot occur for what we wrote
  return end != s.c_str() && *end == '\0';
}

}  // namespace

std::size_t Journal::replay(const std::string& path, std::size_t record,
                            const std::function<void(const Job&, std::span<const double>)>& store) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return 0;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path + ": cannot read the journal");
  std::size_t n = 0, line_no = 0, pos = 0;
  std::vector<double> rec(record);
  std::vector<std::string> tok;
  while (pos < text.size()) {
    ++line_no;
    const std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      std::fprintf(stderr, "aimc: warning: %s: line %zu is incomplete (a write cut short by a kill or a full disk); dropped\n",
                   path.c_str(), line_no);
      break;
    }
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    std::istringstream ss(line);
    tok.clear();
    for (std::string w; ss >> w;) tok.push_back(w);
    auto garbled = [&](const std::string& why) {
      return Error(path + ": line " + std::to_string(line_no) + ": not a journal record (" + why +
                   "); the journal is damaged: remove it to resume from the results file alone");
    };
    if (tok.size() != 3 + record)
      throw garbled("expected " + std::to_string(3 + record) + " fields, found " + std::to_string(tok.size()));
    if (tok.back() != "end") throw garbled("no 'end' marker");
    Job job;
    std::uint64_t unit = 0;
    if (!parse_u64(tok[0], unit)) throw garbled("bad unit '" + tok[0].substr(0, 32) + "'");
    job.unit = std::size_t(unit);
    if (!parse_u64(tok[1], job.index)) throw garbled("bad index '" + tok[1].substr(0, 32) + "'");
    for (std::size_t i = 0; i < record; ++i)
      if (!parse_double(tok[2 + i], rec[i])) throw garbled("bad number '" + tok[2 + i].substr(0, 32) + "'");
    store(job, rec);
    ++n;
  }
  return n;
}

std::string journal_path(const std::string& out, int rank) {
  return rank == 0 ? out + ".journal" : out + ".journal." + std::to_string(rank);
}

std::vector<std::string> journal_files(const std::string& out) {
  std::vector<std::pair<long, std::string>> found;
  const fs::path p(out);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  const std::string base = p.filename().string() + ".journal";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name == base) {
      found.emplace_back(0, journal_path(out, 0));
    } else if (name.size() > base.size() + 1 && name.compare(0, base.size() + 1, base + ".") == 0) {
      std::uint64_t r = 0;
      if (parse_u64(name.substr(base.size() + 1), r) && r > 0 && r < (1u << 30))
        found.emplace_back(long(r), journal_path(out, int(r)));
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> files;
  for (auto& f : found) files.push_back(std::move(f.second));
  return files;
}

// ---------------------------------------------------------------------------------------------
// Scheduler

namespace {
void barrier() {
  if (Mpi::world().size() > 1) Mpi::world().allgather({});
}
}  // namespace

Scheduler::Scheduler(const std::string& out, std::size_t record, Store store, Flush flush, double flush_seconds)
    : out_(out), record_(record), store_(std::move(store)), flush_(std::move(flush)), flush_seconds_(flush_seconds),
      journal_(journal_path(out, Mpi::world().rank()), record), last_flush_(std::chrono::steady_clock::now()) {
  // Testing hooks of the process-level tests (experiments/README.md): AIMC_FLUSH_SECONDS overrides the
  // interval between rewrites (to let a journal grow); AIMC_STOP_AFTER_JOBS=N stops the run like SIGTERM
  // once this process has finished N jobs (with one thread: exactly N, an interruption at a chosen job).
  if (const char* e = std::getenv("AIMC_FLUSH_SECONDS")) {
    char* end = nullptr;
    const double v = std::strtod(e, &end);
    if (end == e || *end != '\0' || !(v >= 0) || !std::isfinite(v))
      throw Error("AIMC_FLUSH_SECONDS = '" + std::string(e) + "': expected seconds >= 0");
    flush_seconds_ = v;
  }
  if (const char* e = std::getenv("AIMC_STOP_AFTER_JOBS")) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(e, &end, 10);
    if (end == e || *end != '\0' || *e == '-' || v == 0)
      throw Error("AIMC_STOP_AFTER_JOBS = '" + std::string(e) + "': expected a job count >= 1");
    stop_after_ = v;
  }
  if (g_guards++ == 0) g_guard = new SignalGuard;
}

Scheduler::~Scheduler() {
  if (--g_guards == 0) {
    delete g_guard;
    g_guard = nullptr;
  }
}

bool Scheduler::lead() const { return Mpi::world().rank() == 0; }

std::size_t Scheduler::replay() {
  std::size_t n = 0;
  for (const auto& path : journal_files(out_)) n += Journal::replay(path, record_, store_);
  // Every rank must hold the same state before rank 0 rewrites the file and the journals are emptied.
  barrier();
  return n;
}

void Scheduler::clear_journals() {
  journal_.clear();
  if (!lead()) return;
  // Journals of ranks this run does not have (a run resumed with fewer ranks): merged, so removed.
  for (const auto& path : journal_files(out_)) {
    const auto dot = path.rfind('.');
    std::uint64_t r = 0;
    if (path != journal_.path() && parse_u64(path.substr(dot + 1), r) && r >= std::uint64_t(Mpi::world().size())) {
      std::error_code ec;
      fs::remove(path, ec);
    }
  }
}

void Scheduler::checkpoint() {
  if (lead()) flush_();
  barrier();  // the file holds every journaled job before any journal is emptied
  clear_journals();
  last_flush_ = std::chrono::steady_clock::now();
  barrier();  // no rank appends to a journal another rank is still clearing
}

void Scheduler::finish() {
  if (lead()) flush_();
  barrier();
  clear_journals();
  journal_.remove();
}

void Scheduler::run(const std::vector<Job>& jobs, const Compute& compute, Progress* progress) {
  const Mpi& mpi = Mpi::world();
  // The MPI exchange carries unit and index as doubles: exact below 2^53 only.
  for (const Job& j : jobs)
    if (j.unit >= kMaxJobId || j.index >= kMaxJobId)
      throw Error("Scheduler: job (" + std::to_string(j.unit) + ", " + std::to_string(j.index) +
                  ") is outside [0, 2^53): the MPI exchange would not carry it exactly");
  std::vector<Job> mine;
  for (std::size_t j = 0; j < jobs.size(); ++j)
    if (int(j % std::size_t(mpi.size())) == mpi.rank()) mine.push_back(jobs[j]);
  // Rank-local results: unit, index, record...
  const std::size_t row = 2 + record_;
  std::vector<double> packed(mine.size() * row);
  std::exception_ptr failure;
  std::atomic<bool> stop{g_stop_signal.load() != 0};
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t j = 0; j < mine.size(); ++j) {
    if (stop.load(std::memory_order_relaxed) || g_stop_signal.load(std::memory_order_relaxed) != 0) {
      stop.store(true, std::memory_order_relaxed);
      continue;
    }
    try {
      double* d = packed.data() + j * row;
      d[0] = double(mine[j].unit);
      d[1] = double(mine[j].index);
      std::span<double> rec(d + 2, record_);
      compute(mine[j], rec);
      // An exception must not leave an OpenMP structured block (g++ calls std::terminate), so the
      // critical section catches its own and hands it on below.
      std::exception_ptr store_failure;
#pragma omp critical(aimc_campaign_store)
      try {
        if (mpi.size() == 1) store_(mine[j], rec);
        journal_.append(mine[j], rec);  // on disk (page cache) before the job is counted
        if (++finished_ == stop_after_) g_stop_signal.store(kStopAfterJobs);
        if (mpi.size() == 1) {
          const auto now = std::chrono::steady_clock::now();
          if (std::chrono::duration<double>(now - last_flush_).count() >= flush_seconds_) {
            flush_();  // a failure (disk full) leaves the journal as it is
            journal_.clear();
            last_flush_ = now;
          }
        }
        if (progress && mpi.size() == 1) progress->tick();
      } catch (...) {
        store_failure = std::current_exception();
      }
      if (store_failure) std::rethrow_exception(store_failure);
    } catch (...) {
      stop.store(true, std::memory_order_relaxed);
#pragma omp critical(aimc_campaign_error)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  if (const int sig = g_stop_signal.load(); sig != 0) {
    journal_.sync();
    throw Error(std::string("interrupted by ") + signal_name(sig) + ": " + std::to_string(finished_) +
                " finished job(s) of this run are kept in " + out_ + " and its journal; run the same command with "
                "--resume to continue");
  }
  if (mpi.size() > 1) {
    const std::vector<double> all = mpi.allgather(packed);
    for (std::size_t k = 0; k + row <= all.size(); k += row) {
      Job job{std::size_t(all[k]), std::uint64_t(all[k + 1])};
      store_(job, std::span<const double>(all.data() + k + 2, record_));
    }
    if (lead()) flush_();
    barrier();  // the file holds this round before any rank empties its journal
    clear_journals();
    last_flush_ = std::chrono::steady_clock::now();
    if (progress) progress->tick((long long)(all.size() / row));
  }
}

}  // namespace aimc::experiments
