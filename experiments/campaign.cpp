#include "experiments/campaign.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "experiments/mpi.hpp"

namespace aimc::experiments {

namespace fs = std::filesystem;

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

void Journal::append(const Job& job, std::span<const double> record) {
  if (fd_ < 0) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd_ < 0) throw Error(path_ + ": cannot write the journal: " + std::strerror(errno));
  }
  std::string line = std::to_string(job.unit) + " " + std::to_string(job.index);
  char b[64];
  for (double v : record) {
    std::snprintf(b, sizeof b, " %a", v);
    line += b;
  }
  line += " end\n";
  if (::write(fd_, line.data(), line.size()) != ssize_t(line.size()))
    throw Error(path_ + ": cannot write the journal: " + std::strerror(errno));
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

std::size_t Journal::replay(const std::string& path, std::size_t record,
                            const std::function<void(const Job&, std::span<const double>)>& store) {
  std::ifstream in(path);
  std::string line;
  std::size_t n = 0;
  std::vector<double> rec(record);
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::vector<std::string> tok;
    for (std::string w; ss >> w;) tok.push_back(w);
    if (tok.size() != 3 + record || tok.back() != "end") continue;
    char* end = nullptr;
    Job job;
    job.unit = std::strtoull(tok[0].c_str(), &end, 10);
    if (*end) continue;
    job.index = std::strtoull(tok[1].c_str(), &end, 10);
    if (*end) continue;
    for (std::size_t i = 0; i < record; ++i) rec[i] = std::strtod(tok[2 + i].c_str(), nullptr);
    store(job, rec);
    ++n;
  }
  return n;
}

Scheduler::Scheduler(const std::string& out, std::size_t record, Store store, Flush flush, double flush_seconds)
    : record_(record), store_(std::move(store)), flush_(std::move(flush)), flush_seconds_(flush_seconds),
      journal_(out + ".journal", record), last_flush_(std::chrono::steady_clock::now()) {}

bool Scheduler::lead() const { return Mpi::world().rank() == 0; }

std::size_t Scheduler::replay() {
  const std::size_t n = Journal::replay(journal_.path(), record_, store_);
  // Every rank must hold the same state before rank 0 rewrites the file and removes the journal.
  if (Mpi::world().size() > 1) Mpi::world().allgather({});
  return n;
}

void Scheduler::checkpoint() {
  if (!lead()) return;
  flush_();
  journal_.clear();
  last_flush_ = std::chrono::steady_clock::now();
}

void Scheduler::finish() {
  if (!lead()) return;
  flush_();
  journal_.remove();
}

void Scheduler::run(const std::vector<Job>& jobs, const Compute& compute, Progress* progress) {
  const Mpi& mpi = Mpi::world();
  std::vector<Job> mine;
  for (std::size_t j = 0; j < jobs.size(); ++j)
    if (int(j % std::size_t(mpi.size())) == mpi.rank()) mine.push_back(jobs[j]);
  // Rank-local results: unit, index, record...
  const std::size_t row = 2 + record_;
  std::vector<double> packed(mine.size() * row);
  std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t j = 0; j < mine.size(); ++j) {
    try {
      double* d = packed.data() + j * row;
      d[0] = double(mine[j].unit);
      d[1] = double(mine[j].index);
      std::span<double> rec(d + 2, record_);
      compute(mine[j], rec);
      if (mpi.size() == 1) {
#pragma omp critical(aimc_campaign_store)
        {
          store_(mine[j], rec);
          journal_.append(mine[j], rec);  // on disk before the job is counted
          const auto now = std::chrono::steady_clock::now();
          if (std::chrono::duration<double>(now - last_flush_).count() >= flush_seconds_) {
            flush_();
            journal_.clear();
            last_flush_ = now;
          }
          if (progress) progress->tick();
        }
      }
    } catch (...) {
#pragma omp critical(aimc_campaign_error)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  if (mpi.size() > 1) {
    const std::vector<double> all = mpi.allgather(packed);
    for (std::size_t k = 0; k + row <= all.size(); k += row) {
      Job job{std::size_t(all[k]), std::uint64_t(all[k + 1])};
      store_(job, std::span<const double>(all.data() + k + 2, record_));
    }
    if (lead()) {
      flush_();
      last_flush_ = std::chrono::steady_clock::now();
    }
    if (progress) progress->tick((long long)(all.size() / row));
  }
}

}  // namespace aimc::experiments
