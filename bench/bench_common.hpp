#pragma once
/// Timing helpers shared by the benchmarks (aimc_bench, aimc_bench_hwa): plain std::chrono, repeated
/// timings summarized by their median (and minimum), and the load average printed beside them.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace aimc::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Seconds f() takes.
template <class F>
double timed(F&& f) {
  const auto t0 = Clock::now();
  f();
  return seconds_since(t0);
}

/// Median and minimum of a list of timings (seconds).
struct Timing {
  std::vector<double> t;
  double median() const {
    std::vector<double> s = t;
    std::sort(s.begin(), s.end());
    const std::size_t n = s.size();
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  }
  double min() const { return *std::min_element(t.begin(), t.end()); }
};

/// "load average 1.23 1.10 0.98" from getloadavg: timings on a shared machine are only indicative.
inline std::string load_average() {
  double la[3] = {0, 0, 0};
  if (getloadavg(la, 3) != 3) return "load average unknown";
  char buf[64];
  std::snprintf(buf, sizeof buf, "load average %.2f %.2f %.2f", la[0], la[1], la[2]);
  return buf;
}

}  // namespace aimc::bench
