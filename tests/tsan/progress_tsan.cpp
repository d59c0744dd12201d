// Regression for the data race in core/progress.cpp (issue 13): two or more OpenMP threads tick() one
// Progress with printing enabled for longer than its print interval (5 s when stderr is not a
// terminal, 0.2 s when it is), so that the time check, the lock and print() run concurrently.
// Built and run by run_tsan.sh under ThreadSanitizer, where the old code (a plain time_point last_
// written under the lock but read outside it) is reported as a data race.
//   progress_tsan [SECONDS]   (default 5.5)
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/progress.hpp"

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 5.5;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  long long ticks = 0;
  {
    aimc::Progress p("progress_tsan", 0, "ticks", true);
#pragma omp parallel reduction(+ : ticks)
    {
      while (elapsed() < seconds) {
        for (int i = 0; i < 1000; ++i) p.tick();
        ticks += 1000;
        if (omp_get_thread_num() == 0 && ticks % 1000000 == 0) p.status(std::to_string(ticks) + " on thread 0");
      }
    }
    p.finish();
  }
  std::printf("progress_tsan: %lld ticks from %d threads in %.1f s\n", ticks, omp_get_max_threads(), elapsed());
  return 0;
}
