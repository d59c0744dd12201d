#include "core/progress.hpp"

#include <cstdio>
#include <unistd.h>

namespace aimc {

Progress::Progress(std::string label, long long total, std::string unit, bool enabled)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled),
      tty_(isatty(fileno(stderr)) != 0), start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  if (!finished_.load() && done_.load() > 0) finish();
}

void Progress::status(const std::string& s) {
  std::lock_guard<std::mutex> g(mu_);
  status_ = s;
}

// Called from many OpenMP threads: the counter is a relaxed atomic add, the time check a relaxed
// atomic load; only a thread that finds a line due takes the lock (try_lock: never waits), and it
// re-checks under the lock so two threads that both saw a stale last_ print once.
void Progress::tick(long long n) {
  done_.fetch_add(n, std::memory_order_relaxed);
  if (!enabled_) return;
  using clock = std::chrono::steady_clock;
  const clock::rep due =
      std::chrono::duration_cast<clock::duration>(std::chrono::milliseconds(tty_ ? 200 : 5000)).count();
  const clock::rep now = (clock::now() - start_).count();
  if (now - last_.load(std::memory_order_relaxed) < due) return;
  std::unique_lock<std::mutex> g(mu_, std::try_to_lock);
  if (!g.owns_lock() || now - last_.load(std::memory_order_relaxed) < due) return;
  last_.store(now, std::memory_order_relaxed);
  print(false);
}

void Progress::finish() {
  if (finished_.exchange(true)) return;
  if (!enabled_) return;
  std::lock_guard<std::mutex> g(mu_);
  print(true);
}

void Progress::print(bool final) {
  double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  long long d = done_;
  double rate = t > 0 ? double(d) / t : 0;
  double eta = rate > 0 ? double(total_ - d) / rate : 0;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: %lld/%lld %s, %.1f %s/s, %s %.0f s", label_.c_str(), d, total_, unit_.c_str(),
                rate, unit_.c_str(), final ? "took" : "ETA", final ? t : eta);
  std::string line = buf;
  if (!status_.empty()) line += ", " + status_;
  if (tty_) std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  else std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace aimc
