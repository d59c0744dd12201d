#pragma once
/// Progress on stderr for long work: a refreshed line (done/total, rate, ETA) when stderr is a
/// terminal, a plain line every few seconds otherwise. Safe to call from several threads.
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

namespace aimc {

class Progress {
 public:
  Progress(std::string label, long long total, std::string unit = "items", bool enabled = true);
  ~Progress();
  /// Adds n finished items and prints if due.
  void tick(long long n = 1);
  /// Prints the final line.
  void finish();
  /// Free-form status appended to the line (e.g. current loss).
  void status(const std::string& s);

 private:
  void print(bool final);
  std::string label_, unit_, status_;
  long long total_;
  std::atomic<long long> done_{0};
  bool enabled_, tty_;
  std::atomic<bool> finished_{false};
  std::chrono::steady_clock::time_point start_;
  /// Time of the last printed line, in steady_clock ticks since start_. tick() reads it without the
  /// lock (relaxed: a stale value only delays or repeats the check); it is written under mu_ only.
  std::atomic<std::chrono::steady_clock::rep> last_{0};
  std::mutex mu_;
};

}  // namespace aimc
