#!/usr/bin/env bash
# ThreadSanitizer on the tests that run OpenMP threads: builds a separate Debug -O1 build of aimc_tests_threads
# with -fsanitize=thread (default directory build-tsan next to the sources, MPI off) and runs
#   1. every doctest case whose name contains "thread" (the 1-thread vs 2-thread determinism tests of
#      streams, layers, the array contract, training, mc, hardnn and snr campaigns: together they run
#      the parallel loops of the library with 2 threads);
#   2. tests/tsan/progress_tsan.cpp: 2 threads tick() one Progress with printing on for 5.5 s
#      (core/progress.cpp, issue 13; printing is off in the library tests above).
# Exits non-zero on any ThreadSanitizer report (TSAN exitcode 66) or failing test.
#   tests/tsan/run_tsan.sh [BUILD_DIR]
# Needs Debian's libomp5-14 and libomp-14-dev (LLVM's OpenMP runtime and its Archer tool), see below.
#
# Why the OpenMP runtime is swapped at run time:
#   GCC's libgomp is not built with TSan. Its barriers and the hand-over of work to its pooled worker
#   threads use futexes and atomics that TSan does not see, so TSan finds no happens-before between a
#   parallel region and the code before or after it and reports races that do not exist. Measured
#   with g++ 12.2 on a race-free 10-line program (the master fills a vector, a `parallel for` updates
#   it, the master sums it): 2 reports per run, also with OMP_WAIT_POLICY=passive or active,
#   GOMP_SPINCOUNT=0 or OMP_PROC_BIND=true (these change how threads wait, not what TSan can see).
#   Suppressing those reports would need suppressions on our own outlined parallel code, i.e. would
#   hide exactly the races this run looks for.
#   LLVM's libomp implements libgomp's ABI (GOMP_parallel, GOMP_barrier, ...) and has Archer
#   (libarcher.so), an OMPT tool that tells TSan about every OpenMP barrier, task and lock. So the
#   g++-built binary runs with libomp preloaded (it then serves the GOMP_* calls instead of libgomp)
#   and Archer named in OMP_TOOL_LIBRARIES (libomp only finds it by itself in clang-built programs).
#   Measured on the same program: 0 reports; an unprotected `s += i` in a parallel for is still
#   reported. No suppressions file and no OMP_* wait setting are needed. (Building with clang++ and
#   libomp directly is not an option with clang 14: it cannot compile the C++20 capture of structured
#   bindings in tests/devices/test_array_contract.cpp.)
#   TSAN_OPTIONS=ignore_noninstrumented_modules=1 is what Archer asks for: accesses made inside
#   uninstrumented libraries (libomp itself, HDF5) are not tracked; our instrumented code still is.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build-tsan}
find_lib() {
  local f
  for f in /usr/lib/llvm-*/lib/"$1" /usr/lib/x86_64-linux-gnu/"$1"; do
    [ -e "$f" ] && { echo "$f"; return 0; }
  done
  echo "run_tsan.sh: $1 not found (Debian: apt-get install libomp5-14 libomp-14-dev)" >&2
  exit 2
}
libomp=$(find_lib libomp.so.5)
archer=$(find_lib libarcher.so)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

start=$(date +%s)
cmake -S "$src" -B "$build" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
      -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
      -DAIMC_WITH_MPI=OFF -DAIMC_SANITIZE=OFF >/dev/null
cmake --build "$build" -j2 --target aimc_tests_threads
"${CXX:-g++}" -std=c++20 -O1 -g1 -fsanitize=thread -fno-omit-frame-pointer -fopenmp -I"$src" \
  "$src/tests/tsan/progress_tsan.cpp" "$src/core/progress.cpp" -o "$build/progress_tsan"
echo "run_tsan.sh: build took $(( $(date +%s) - start )) s"

export LD_PRELOAD="$libomp${LD_PRELOAD:+:$LD_PRELOAD}"
export OMP_TOOL_LIBRARIES="$archer"
export TSAN_OPTIONS="ignore_noninstrumented_modules=1 exitcode=66 halt_on_error=0 second_deadlock_stack=1"
export OMP_NUM_THREADS=2
# Archer must be active, or the OpenMP synchronization is invisible to TSan as with libgomp above.
probe=$(ARCHER_OPTIONS=verbose=1 "$build/progress_tsan" 0.01 2>&1)
grep -q "Archer detected" <<<"$probe" ||
  { echo "run_tsan.sh: Archer ($archer) did not start; the run would give false reports: $probe" >&2; exit 2; }

start=$(date +%s)
"$build/progress_tsan"
(cd "$build/tests" && ./aimc_tests_threads -tc='*thread*' --no-intro)
echo "run_tsan.sh: tests took $(( $(date +%s) - start )) s, no ThreadSanitizer report"
