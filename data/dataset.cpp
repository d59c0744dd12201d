#include "data/dataset.hpp"

#include <algorithm>

namespace aimc::data {

Dataset Dataset::head(long long n) const {
  n = std::clamp<long long>(n, 0, size());
  Dataset d{name, x.topRows(n), y.head(n), shape, classes};
  return d;
}

}  // namespace aimc::data
