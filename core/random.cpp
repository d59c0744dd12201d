#include "core/random.hpp"

#include <boost/random/bernoulli_distribution.hpp>
#include <boost/random/normal_distribution.hpp>
#include <boost/random/uniform_01.hpp>
#include <boost/random/uniform_int_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>

#include "core/philox.hpp"

namespace aimc {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

static std::uint64_t mix(std::uint64_t h, std::uint64_t v) { return splitmix64(h ^ splitmix64(v + 0x9e3779b97f4a7c15ULL)); }

std::uint64_t stream_key(std::uint64_t seed, std::string_view purpose, std::initializer_list<std::uint64_t> indices) {
  std::uint64_t h = splitmix64(seed ^ 0x6a09e667f3bcc909ULL);
  h = mix(h, fnv1a64(purpose));
  for (auto i : indices) h = mix(h, i);
  return h;
}

void Mt19937_64::twist() {
  for (int j = 0; j < kN - kM; ++j) x_[j] = x_[j + kM] ^ twist_word(x_[j], x_[j + 1]);
  for (int j = kN - kM; j < kN - 1; ++j) x_[j] = x_[j - (kN - kM)] ^ twist_word(x_[j], x_[j + 1]);
  x_[kN - 1] = x_[kM - 1] ^ twist_word(x_[kN - 1], x_[0]);
  pos_ = 0;
}

void Mt19937_64::full_state() {
  seed_to(kN);
  // Boost's normalize_state(): the low 31 bits of word 0 from words m - 1 and n - 1 (no output depends
  // on them: the twist replaces word 0 before the last word reads its low bits), and the all-zero state
  // (impossible with this seeding) left out.
  std::uint64_t y0 = x_[kM - 1] ^ x_[kN - 1];
  y0 = (y0 >> 63) ? ((y0 ^ kA) << 1) | 1 : y0 << 1;
  x_[0] = (x_[0] & kUpper) | (y0 & kLower);
  twist();
  pos_ = kM;  // outputs 0 .. 155 were served lazily
}

Stream::Stream(std::uint64_t key) : key_(key) {}

Stream::Stream(std::uint64_t seed, std::string_view purpose, std::initializer_list<std::uint64_t> indices)
    : Stream(stream_key(seed, purpose, indices)) {}

Stream Stream::child(std::string_view purpose, std::initializer_list<std::uint64_t> indices) const {
  return Stream(stream_key(key_, purpose, indices));
}

double Stream::uniform() { return boost::random::uniform_01<double>()(engine()); }

double Stream::normal() { return boost::random::normal_distribution<double>(0.0, 1.0)(engine()); }

std::uint64_t Stream::below(std::uint64_t n) {
  return boost::random::uniform_int_distribution<std::uint64_t>(0, n - 1)(engine());
}

bool Stream::bernoulli(double p) { return boost::random::bernoulli_distribution<double>(p)(engine()); }

void Stream::fill_normal(Eigen::Ref<Matrix> m, float mean, float sd) {
  if (m.size() == 0) return;
  if (m.outerStride() == m.cols()) {
    fill_normal(std::span<float>(m.data(), std::size_t(m.size())), mean, sd);
    return;
  }
  for (Eigen::Index i = 0; i < m.rows(); ++i) fill_normal(std::span<float>(m.row(i).data(), std::size_t(m.cols())), mean, sd);
}

void Stream::fill_normal(std::span<float> v, float mean, float sd) {
  philox::normals(key_, bulk_, v);
  bulk_ += v.size();
  if (mean != 0.f || sd != 1.f)
    for (auto& x : v) x = mean + sd * x;
}

void Stream::fill_uniform(Eigen::Ref<Matrix> m, float lo, float hi) {
  boost::random::uniform_real_distribution<float> d(lo, hi);
  Engine& e = engine();
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) m(i, j) = d(e);
}

}  // namespace aimc
