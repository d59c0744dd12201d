#pragma once
/// Deterministic random streams.
///
/// A Stream is keyed by (master seed, purpose, indices...), e.g. (seed, "program", point, trial,
/// layer, tile). The key is a 64-bit hash computed as
///   h0 = splitmix64(seed ^ 0x6a09e667f3bcc909)
///   h1 = mix(h0, fnv1a64(purpose))
///   h_{k+1} = mix(h_k, index_k),   mix(h, v) = splitmix64(h ^ splitmix64(v + 0x9e3779b97f4a7c15))
/// and seeds an mt19937_64 engine for the scalar draws (uniform, normal, below, bernoulli, fill_uniform,
/// shuffle), through Boost's distributions, which give the same numbers with every compiler. The engine
/// is Mt19937_64 below: Boost.Random's mt19937_64 seeded with the key, output for output, but seeded
/// lazily (a stream that draws a few numbers, as a fault-injection site does, pays for about 160 of
/// the 312 seeding steps and no twist of the whole state).
/// Bulk Gaussian fills (fill_normal) come from the stream's counter-based sequence instead: normal i of
/// key k is a fixed function of (k, i), Philox4x32-10 plus Box-Muller (core/philox.hpp), generated with
/// AVX2 at about 1.3 ns a number, against about 4.5 ns for Boost's ziggurat on mt19937_64. The stream
/// keeps its position in that sequence: consecutive fills continue it, so filling n values and then m
/// gives the same numbers as one fill of n + m, and the scalar draws do not move it.
/// Draws therefore depend only on the key, never on which thread or MPI rank makes them or in which
/// order streams are created, and any single trial can be regenerated alone.
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

/// mt19937_64 (Matsumoto and Nishimura, ACM TOMACS 1998; the 64-bit parameters of Nishimura, ACM TOMACS
/// 2000) with Boost.Random's integer seeding (x_0 = seed, x_i = f (x_{i-1} xor (x_{i-1} >> 62)) + i,
/// f = 6364136223846793005), giving exactly boost::random::mt19937_64(seed)'s outputs (tested against
/// it). Output k < 156 of the first block depends only on seed words k, k + 1 and k + 156 (the twist of
/// word k reads words k + 1 and k + m, m = 156, before they are overwritten), so those outputs seed only
/// that far and twist one word each; from output 156 on the engine completes the seeding (with Boost's
/// normalization of word 0, whose low bits no output reads) and runs as the textbook generator.
class Mt19937_64 {
 public:
  using result_type = std::uint64_t;
  explicit Mt19937_64(std::uint64_t seed) { x_[0] = seed; }
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type(0); }
  result_type operator()() {
    if (pos_ < 0) {  // lazy: output k = -pos_ - 1 of the first block
      const int k = -pos_ - 1;
      if (k < kM) {
        seed_to(k + kM + 1);
        --pos_;
        return temper(x_[k + kM] ^ twist_word(x_[k], x_[k + 1]));
      }
      full_state();
    }
    if (pos_ == kN) twist();
    return temper(x_[pos_++]);
  }

 private:
  static constexpr int kN = 312, kM = 156;
  static constexpr std::uint64_t kUpper = ~std::uint64_t(0) << 31, kLower = ~kUpper, kA = 0xB5026F5AA96619E9ULL;
  static std::uint64_t twist_word(std::uint64_t xj, std::uint64_t xj1) {
    const std::uint64_t y = (xj & kUpper) | (xj1 & kLower);
    return (y >> 1) ^ ((xj1 & 1) * kA);
  }
  static std::uint64_t temper(std::uint64_t z) {
    z ^= (z >> 29) & 0x5555555555555555ULL;
    z ^= (z << 17) & 0x71D67FFFEDA60000ULL;
    z ^= (z << 37) & 0xFFF7EEE000000000ULL;
    return z ^ (z >> 43);
  }
  void seed_to(int n) {
    for (; seeded_ < n; ++seeded_)
      x_[seeded_] = 6364136223846793005ULL * (x_[seeded_ - 1] ^ (x_[seeded_ - 1] >> 62)) + std::uint64_t(seeded_);
  }
  void full_state();  // the whole seed (Boost's normalization included), twisted: outputs from 156 on
  void twist();
  std::uint64_t x_[kN];
  int seeded_ = 1;  // seed words computed
  int pos_ = -1;    // < 0: lazy, next output -pos_ - 1; else index of the next word of the twisted state
};

class Stream {
 public:
  using Engine = Mt19937_64;

  Stream(std::uint64_t seed, std::string_view purpose, std::initializer_list<std::uint64_t> indices = {});

  /// A sub-stream keyed by this stream's key plus (purpose, indices): independent of how many
  /// numbers this stream has drawn.
  Stream child(std::string_view purpose, std::initializer_list<std::uint64_t> indices = {}) const;

  std::uint64_t key() const { return key_; }
  /// The scalar draws' engine, seeded with the key on first use (streams used only for bulk fills
  /// never pay the seeding).
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
