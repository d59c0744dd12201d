#include "core/numerics.hpp"

#include <Eigen/Core>

namespace aimc {

void pin_numerics() { Eigen::setCpuCacheSizes(PinnedCaches::l1, PinnedCaches::l2, PinnedCaches::l3); }

bool numerics_pinned() {
  return Eigen::l1CacheSize() == PinnedCaches::l1 && Eigen::l2CacheSize() == PinnedCaches::l2 &&
         Eigen::l3CacheSize() == PinnedCaches::l3;
}

namespace {
// Any program that links this file blocks its products like every other machine from the start.
const bool pinned_at_startup = (pin_numerics(), true);
}  // namespace

}  // namespace aimc
