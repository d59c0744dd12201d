#pragma once
/// Helpers of the layer test suites (tests/nets/test_layers*.cpp): the float rounding bound, random
/// matrices, an OpenMP thread-count scope and the error text of a bad layer spec.
#include <omp.h>

#include <string>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"
#include "nets/layer.hpp"

namespace aimc::test {

/// Unit roundoff of float, 2^-24.
inline constexpr double kU = 5.9604644775390625e-08;

/// Higham's gamma_n = n u / (1 - n u): a float sum of n products (any order, with or without FMA)
/// differs from the exact value by at most gamma_n times the sum of the absolute products.
inline double gamma_n(long n) { return n * kU / (1 - n * kU); }

/// A rows x cols matrix of N(0, sd^2) draws from s.
inline Matrix normal(long rows, long cols, Stream& s, float sd = 1.f) {
  Matrix m(rows, cols);
  s.fill_normal(m, 0.f, sd);
  return m;
}

/// Sets the OpenMP thread count for a scope and restores it.
struct Threads {
  int saved = omp_get_max_threads();
  explicit Threads(int n) { omp_set_num_threads(n); }
  ~Threads() { omp_set_num_threads(saved); }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;
};

/// The aimc::Error text of building a layer from `spec`, or "" if it builds.
inline std::string error_of(const nets::LayerSpec& spec) {
  try {
    nets::make_layer(spec);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace aimc::test
