#pragma once
/// Deterministic random streams.
///
/// A Stream is keyed by (master seed, purpose, indices...), e.g. (seed, "program", point, trial,
/// layer, tile). The key is a 64-bit hash computed as
///   h0 = splitmix64(seed ^ 0x6a09e667f3bcc909)
///   h1 = mix(h0, fnv1a64(purpose))
///   h_{k+1} = mix(h_k, index_k),   mix(h, v) = splitmix64(h ^ splitmix64(v + 0x9e3779b97f4a7c15))
/// and seeds a Boost.Random mt19937_64 engine for the scalar draws (uniform, normal, below, bernoulli,
/// fill_uniform, shuffle); Boost's distributions give the same numbers with every compiler.
/// Bulk Gaussian fills (fill_normal) come from the stream's counter-based sequence instead: normal i of
/// key k is a fixed function of (k, i), Philox4x32-10 plus Box-Muller (core/philox.hpp), generated with
/// AVX2 at about 1.3 ns a number, against about 4.5 ns for Boost's ziggurat on mt19937_64. The stream
/// keeps its position in that sequence: consecutive fills continue it, so filling n values and then m
/// gives the same numbers as one fill of n + m, and the scalar draws do not move it.
/// Draws therefore depend only on the key, never on which thread or MPI rank makes them or in which
/// order streams are created, and any single trial can be regenerated alone.
#include <boost/random/mersenne_twister.hpp>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>

#include "core/tensor.hpp"

namespace aimc {

std::uint64_t splitmix64(std::uint64_t x);
std::uint64_t fnv1a64(std::string_view s);
/// The documented key hash (see file comment).
std::uint64_t stream_key(std::uint64_t seed, std::string_view purpose,
                         std::initializer_list<std::uint64_t> indices);

class Stream {
 public:
  using Engine = boost::random::mt19937_64;

  Stream(std::uint64_t seed, std::string_view purpose, std::initializer_list<std::uint64_t> indices = {});

  /// A sub-stream keyed by this stream's key plus (purpose, indices): independent of how many
  /// numbers this stream has drawn.
  Stream child(std::string_view purpose, std::initializer_list<std::uint64_t> indices = {}) const;

  std::uint64_t key() const { return key_; }
  /// The scalar draws' engine, seeded with the key on first use (streams used only for bulk fills
  /// never pay the 312-word seeding).
  Engine& engine() {
    if (!engine_) engine_.emplace(key_);
    return *engine_;
  }

  double uniform();                    ///< U[0, 1)
  double normal();                     ///< N(0, 1)
  std::uint64_t below(std::uint64_t n);  ///< uniform integer in [0, n)
  bool bernoulli(double p);

  /// Fill with i.i.d. N(mean, sd^2) values (float): the next numbers z of the stream's normal sequence,
  /// as mean + sd * z; a matrix is filled row by row.
  void fill_normal(Eigen::Ref<Matrix> m, float mean = 0.f, float sd = 1.f);
  void fill_normal(std::span<float> v, float mean = 0.f, float sd = 1.f);
  /// Position in the normal sequence (numbers drawn by fill_normal so far).
  std::uint64_t normals_drawn() const { return bulk_; }
  /// Fill with i.i.d. U[lo, hi) values (float).
  void fill_uniform(Eigen::Ref<Matrix> m, float lo = 0.f, float hi = 1.f);

  /// Fisher-Yates shuffle of an index array.
  template <class It>
  void shuffle(It first, It last) {
    auto n = static_cast<std::uint64_t>(last - first);
    for (std::uint64_t i = n; i > 1; --i) std::swap(first[i - 1], first[below(i)]);
  }

 private:
  explicit Stream(std::uint64_t key);
  std::uint64_t key_;
  std::uint64_t bulk_ = 0;  // position in the normal sequence
  std::optional<Engine> engine_;
};

}  // namespace aimc
