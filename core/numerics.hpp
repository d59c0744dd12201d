#pragma once
/// What makes a float result depend on the machine, pinned. aimc promises bit-identical results for a
/// given binary on every x86-64-v3 machine; the one input of the numerics that the hardware chooses at
/// run time is Eigen's GEMM blocking. Eigen sizes the depth (k) blocks of a matrix product from the
/// L1/L2/L3 cache sizes it reads from CPUID on first use (GeneralBlockPanelKernel.h,
/// evaluateProductBlockingSizesHeuristic): a depth split at another point adds the partial sums of a dot
/// product in another order, so one product differs in the last bits between machines (a 1000 x 784 by
/// 784 x 256 float product: k blocks of 400 with a 48 KiB L1, of 264 with a 32 KiB L1).
/// pin_numerics() sets fixed cache sizes instead, so every machine blocks every product alike.
///
/// The rest of the reproducibility contract is held elsewhere, and docs/design.md lists it: fixed
/// -march (CMakeLists.txt), no -ffast-math, EIGEN_DONT_PARALLELIZE, parallel loops whose work split and
/// summation order do not depend on the thread count, keyed random streams, and libm (exp, log, pow in
/// double) from the same glibc, whose x86-64 variant is chosen by CPU features that every x86-64-v3
/// machine has (FMA + AVX2).
#include <cstddef>

namespace aimc {

/// The cache sizes every aimc product is blocked for (bytes): L1 and L2 as Eigen reads them on the
/// project's machines (AMD EPYC under a hypervisor: 48 KiB L1d, 1 MiB L2). L3 only has to be nonzero
/// for a single-threaded product's blocking, so it is the common 32 MiB rather than the 508 MiB these
/// machines report.
struct PinnedCaches {
  static constexpr std::ptrdiff_t l1 = 48 * 1024;
  static constexpr std::ptrdiff_t l2 = 1024 * 1024;
  static constexpr std::ptrdiff_t l3 = 32 * 1024 * 1024;
};

/// Sets Eigen's cache sizes to PinnedCaches. Called at start-up of the CLI, the tests and the bench, and
/// by a static initializer of this file; cheap enough to call again before any computation. Writes only
/// when the sizes differ, so calls from parallel threads after start-up merely read them.
void pin_numerics();

/// True if Eigen's current cache sizes are the pinned ones.
bool numerics_pinned();

}  // namespace aimc
