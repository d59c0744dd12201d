#include "core/numerics.hpp"

#include <Eigen/Core>

namespace aimc {

bool numerics_pinned() {
  return Eigen::l1CacheSize() == PinnedCaches::l1 && Eigen::l2CacheSize() == PinnedCaches::l2 &&
         Eigen::l3CacheSize() == PinnedCaches::l3;
}

// Writes Eigen's global cache sizes only when they differ: networks are constructed inside parallel
// trials (AnalogInstance views), and there the sizes are already pinned, so those threads only read
// them (an unconditional write from every thread was a data race, found by ThreadSanitizer).
void pin_numerics() {
  if (!numerics_pinned()) Eigen::setCpuCacheSizes(PinnedCaches::l1, PinnedCaches::l2, PinnedCaches::l3);
}

namespace {
// Any program that links this file blocks its products like every other machine from the start.
const bool pinned_at_startup = (pin_numerics(), true);
}  // namespace

}  // namespace aimc
