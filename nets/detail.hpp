#pragma once
/// Internals shared by the layer implementations (not part of the public layer contract).
#include <initializer_list>
#include <sstream>
#include <string>

#include "core/error.hpp"
#include "core/tensor.hpp"

namespace aimc::nets::detail {

/// Samples per work chunk in the parallel loops of the layers. Chunk boundaries depend only on this
/// constant and the batch size, never on the thread count, and per-chunk partial sums are reduced in
/// chunk order, so every result is bit-identical for any number of OpenMP threads.
inline constexpr int kSampleChunk = 16;

/// Elements per work block of element-wise layers (same thread-count independence as above; the
/// results of element-wise maps do not depend on the split anyway).
inline constexpr long kElementBlock = 1L << 16;

/// Work (multiply-accumulates or elements touched) below which a parallel loop runs on one thread: a
/// fork/join costs more than it saves. Only the thread count depends on it, never the chunking.
inline constexpr double kParallelWork = 1 << 18;

/// Number of chunks of kSampleChunk samples covering a batch of `batch` samples.
inline int chunk_count(long batch) { return int((batch + kSampleChunk - 1) / kSampleChunk); }

/// Throws Error when a batch does not have the layer's feature count.
inline void check_features(const char* kind, const char* what, const Matrix& m, int features) {
  if (m.cols() != features)
    throw Error(std::string(kind) + ": " + what + " has " + std::to_string(m.cols()) + " features per sample, expected " +
                std::to_string(features));
}

/// Throws Error for backward() without a preceding train-mode forward of the same batch size.
inline void check_backward(const char* kind, bool have_cache, long cached_rows, const Matrix& dy, int features) {
  if (!have_cache) throw Error(std::string(kind) + ": backward() called without a preceding forward() in Mode::train");
  check_features(kind, "dy", dy, features);
  if (dy.rows() != cached_rows)
    throw Error(std::string(kind) + ": dy has " + std::to_string(dy.rows()) + " rows, the last train forward had " +
                std::to_string(cached_rows));
}

/// Throws Error unless lo <= value <= hi, naming the layer kind and the argument.
inline void check_range(const char* kind, const std::string& name, long long value, long long lo, long long hi) {
  if (value < lo || value > hi)
    throw Error(std::string(kind) + ": argument '" + name + "' = " + std::to_string(value) + ": expected an integer in [" +
                std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

/// A float argument as written in error messages (shortest of 6 significant digits: 1e-05, 7, 0.5).
inline std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

/// "[a,b,c]" (error messages).
inline std::string list_str(std::initializer_list<long long> v) {
  std::string s = "[";
  for (auto x : v) s += (s.size() > 1 ? "," : "") + std::to_string(x);
  return s + "]";
}

/// Throws Error unless every entry of a list argument lies in [lo, hi], naming the kind and the argument.
inline void check_list(const char* kind, const std::string& name, std::initializer_list<long long> v, long long lo,
                       long long hi) {
  for (auto x : v)
    if (x < lo || x > hi)
      throw Error(std::string(kind) + ": argument '" + name + "' = " + list_str(v) + ": expected integers in [" +
                  std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

/// Validates an image shape (every extent >= 1, total size at most 2^30); the arguments are named
/// prefix + "c", "h", "w" as in the layer's spec.
inline void check_shape(const char* kind, const std::string& prefix, Shape s) {
  constexpr long long kMax = 1LL << 30;
  check_range(kind, prefix + "c", s.c, 1, kMax);
  check_range(kind, prefix + "h", s.h, 1, kMax);
  check_range(kind, prefix + "w", s.w, 1, kMax);
  if ((long long)s.c * s.h * s.w > kMax)
    throw Error(std::string(kind) + ": input shape " + s.str() + " has more than 2^30 features");
}

}  // namespace aimc::nets::detail
