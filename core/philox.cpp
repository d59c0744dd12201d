// Compiled with -ffp-contract=off (core/CMakeLists.txt): every fused multiply-add below is written out,
// so the scalar and AVX2 paths perform the same IEEE operations and give the same bits.
#include "core/philox.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace aimc::philox {

namespace {

constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // multipliers (SC 2011, Table 2)
constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // key schedule: golden ratio, sqrt(3) - 1
constexpr int kRounds = 10;

// Box-Muller constants (float).
constexpr float kSqrtHalf2 = 1.41421356f;       // m > sqrt(2): use m / 2
constexpr float kLn2Hi = 0.693359375f;          // ln 2 = kLn2Hi + kLn2Lo, kLn2Hi with 9 bits: e * kLn2Hi exact
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kThetaPerUnit = 0x1.921fb6p-30f;  // pi / 2^31: theta per unit of the 30-bit fraction
// atanh series: ln((1 + s) / (1 - s)) = 2 s (1 + s^2/3 + s^4/5 + s^6/7 + s^8/9 + ...)
constexpr float kA3 = 1.f / 3.f, kA5 = 1.f / 5.f, kA7 = 1.f / 7.f, kA9 = 1.f / 9.f;
// Taylor coefficients of sin and cos.
constexpr float kS3 = -1.f / 6.f, kS5 = 1.f / 120.f, kS7 = -1.f / 5040.f, kS9 = 1.f / 362880.f;
constexpr float kC2 = -1.f / 2.f, kC4 = 1.f / 24.f, kC6 = -1.f / 720.f, kC8 = 1.f / 40320.f,
                kC10 = -1.f / 3628800.f;

inline void mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t p = std::uint64_t(a) * std::uint64_t(b);
  hi = std::uint32_t(p >> 32);
  lo = std::uint32_t(p);
}

/// ln u for u in (0, 1] (see the header).
inline float log_unit(float u) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(u);
  int e = int(bits >> 23) - 127;
  float m = std::bit_cast<float>((bits & 0x007FFFFFu) | 0x3F800000u);  // [1, 2)
  if (m > kSqrtHalf2) {
    m = m * 0.5f;
    e += 1;
  }
  const float f = m - 1.f;  // exact (Sterbenz)
  const float s = f / (f + 2.f);
  const float s2 = s * s;
  float p = std::fma(s2, kA9, kA7);
  p = std::fma(p, s2, kA5);
  p = std::fma(p, s2, kA3);
  const float t = s + s;  // 2 s, exact
  const float l = std::fma(t * s2, p, t);
  const float ef = float(e);
  return std::fma(ef, kLn2Hi, std::fma(ef, kLn2Lo, l));
}

}  // namespace

Block philox4x32_10(Block x, std::uint32_t k0, std::uint32_t k1) {
  for (int r = 0; r < kRounds; ++r) {
    if (r > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    std::uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kM0, x[0], hi0, lo0);
    mulhilo(kM1, x[2], hi1, lo1);
    x = {hi1 ^ x[1] ^ k0, lo1, hi0 ^ x[3] ^ k1, lo0};
  }
  return x;
}

std::array<float, 2> box_muller(std::uint32_t wa, std::uint32_t wb) {
  const float u = (float(std::int32_t(wa >> 1)) + 0.5f) * 0x1p-31f;
  const float r = std::sqrt(-2.f * log_unit(u));
  const std::uint32_t v = wb + 0x20000000u;
  const std::uint32_t q = v >> 30;
  const float th = float(std::int32_t(v & 0x3FFFFFFFu) - 0x20000000) * kThetaPerUnit;
  const float t2 = th * th;
  float ps = std::fma(t2, kS9, kS7);
  ps = std::fma(ps, t2, kS5);
  ps = std::fma(ps, t2, kS3);
  const float sn = std::fma(th * t2, ps, th);
  float pc = std::fma(t2, kC10, kC8);
  pc = std::fma(pc, t2, kC6);
  pc = std::fma(pc, t2, kC4);
  pc = std::fma(pc, t2, kC2);
  const float cs = std::fma(pc, t2, 1.f);
  // Rotate by q quarter turns: (cos, sin)(q pi/2 + theta).
  float a = (q & 1u) ? sn : cs, b = (q & 1u) ? cs : sn;
  a = std::bit_cast<float>(std::bit_cast<std::uint32_t>(a) ^ (((q + 1u) & 2u) << 30));
  b = std::bit_cast<float>(std::bit_cast<std::uint32_t>(b) ^ ((q & 2u) << 30));
  return {r * a, r * b};
}

namespace {

/// The four normals of block j.
inline std::array<float, 4> block_normals(std::uint64_t j, std::uint32_t k0, std::uint32_t k1) {
  const Block w = philox4x32_10({std::uint32_t(j), std::uint32_t(j >> 32), 0u, 0u}, k0, k1);
  const auto p = box_muller(w[0], w[1]), q = box_muller(w[2], w[3]);
  return {p[0], p[1], q[0], q[1]};
}

/// Scalar fill of out[t] = z_{first + t}.
void fill_scalar(std::uint32_t k0, std::uint32_t k1, std::uint64_t first, float* out, std::size_t n) {
  std::size_t t = 0;
  while (t < n) {
    const std::uint64_t i = first + t, j = i / 4;
    const auto z = block_normals(j, k0, k1);
    for (std::uint64_t e = i % 4; e < 4 && t < n; ++e) out[t++] = z[e];
  }
}

#if defined(__AVX2__) && defined(__FMA__)

inline void mulhilo8(__m256i a, __m256i m, __m256i& hi, __m256i& lo) {
  const __m256i even = _mm256_mul_epu32(a, m);                         // lanes 0, 2, 4, 6 as 64-bit
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);  // lanes 1, 3, 5, 7
  lo = _mm256_mullo_epi32(a, m);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

inline __m256 log_unit8(__m256 u) {
  const __m256i bits = _mm256_castps_si256(u);
  __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127));
  __m256 m = _mm256_castsi256_ps(
      _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x3F800000)));
  const __m256 big = _mm256_cmp_ps(m, _mm256_set1_ps(kSqrtHalf2), _CMP_GT_OQ);
  m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
  e = _mm256_sub_epi32(e, _mm256_castps_si256(big));  // mask = -1 where big
  const __m256 f = _mm256_sub_ps(m, _mm256_set1_ps(1.f));
  const __m256 s = _mm256_div_ps(f, _mm256_add_ps(f, _mm256_set1_ps(2.f)));
  const __m256 s2 = _mm256_mul_ps(s, s);
  __m256 p = _mm256_fmadd_ps(s2, _mm256_set1_ps(kA9), _mm256_set1_ps(kA7));
  p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(kA5));
  p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(kA3));
  const __m256 t = _mm256_add_ps(s, s);
  const __m256 l = _mm256_fmadd_ps(_mm256_mul_ps(t, s2), p, t);
  const __m256 ef = _mm256_cvtepi32_ps(e);
  return _mm256_fmadd_ps(ef, _mm256_set1_ps(kLn2Hi), _mm256_fmadd_ps(ef, _mm256_set1_ps(kLn2Lo), l));
}

inline void box_muller8(__m256i wa, __m256i wb, __m256& za, __m256& zb) {
  const __m256 u = _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(wa, 1)), _mm256_set1_ps(0.5f)),
                                 _mm256_set1_ps(0x1p-31f));
  const __m256 r = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2.f), log_unit8(u)));
  const __m256i v = _mm256_add_epi32(wb, _mm256_set1_epi32(0x20000000));
  const __m256i q = _mm256_srli_epi32(v, 30);
  const __m256 th = _mm256_mul_ps(
      _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x3FFFFFFF)), _mm256_set1_epi32(0x20000000))),
      _mm256_set1_ps(kThetaPerUnit));
  const __m256 t2 = _mm256_mul_ps(th, th);
  __m256 ps = _mm256_fmadd_ps(t2, _mm256_set1_ps(kS9), _mm256_set1_ps(kS7));
  ps = _mm256_fmadd_ps(ps, t2, _mm256_set1_ps(kS5));
  ps = _mm256_fmadd_ps(ps, t2, _mm256_set1_ps(kS3));
  const __m256 sn = _mm256_fmadd_ps(_mm256_mul_ps(th, t2), ps, th);
  __m256 pc = _mm256_fmadd_ps(t2, _mm256_set1_ps(kC10), _mm256_set1_ps(kC8));
  pc = _mm256_fmadd_ps(pc, t2, _mm256_set1_ps(kC6));
  pc = _mm256_fmadd_ps(pc, t2, _mm256_set1_ps(kC4));
  pc = _mm256_fmadd_ps(pc, t2, _mm256_set1_ps(kC2));
  const __m256 cs = _mm256_fmadd_ps(pc, t2, _mm256_set1_ps(1.f));
  const __m256i one = _mm256_set1_epi32(1), two = _mm256_set1_epi32(2);
  const __m256 odd = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(q, one), one));
  __m256 a = _mm256_blendv_ps(cs, sn, odd), b = _mm256_blendv_ps(sn, cs, odd);
  const __m256i sa = _mm256_slli_epi32(_mm256_and_si256(_mm256_add_epi32(q, one), two), 30);
  const __m256i sb = _mm256_slli_epi32(_mm256_and_si256(q, two), 30);
  a = _mm256_xor_ps(a, _mm256_castsi256_ps(sa));
  b = _mm256_xor_ps(b, _mm256_castsi256_ps(sb));
  za = _mm256_mul_ps(r, a);
  zb = _mm256_mul_ps(r, b);
}

/// Philox4x32-10 of blocks j0 .. j0 + 8 G - 1, as G groups of 8 lanes (independent dependency chains
/// interleaved, so that the multiplier latency of one overlaps the others).
template <int G>
inline void philox_groups(std::uint64_t j0, std::uint32_t k0, std::uint32_t k1, __m256i x[G][4]) {
  alignas(32) std::uint32_t lo[8 * G], hi[8 * G];
  for (int l = 0; l < 8 * G; ++l) {
    const std::uint64_t j = j0 + std::uint64_t(l);
    lo[l] = std::uint32_t(j);
    hi[l] = std::uint32_t(j >> 32);
  }
  for (int g = 0; g < G; ++g) {
    x[g][0] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo + 8 * g));
    x[g][1] = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi + 8 * g));
    x[g][2] = _mm256_setzero_si256();
    x[g][3] = _mm256_setzero_si256();
  }
  const __m256i m0 = _mm256_set1_epi32(std::int32_t(kM0)), m1 = _mm256_set1_epi32(std::int32_t(kM1));
  for (int r = 0; r < kRounds; ++r) {
    if (r > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    const __m256i vk0 = _mm256_set1_epi32(std::int32_t(k0)), vk1 = _mm256_set1_epi32(std::int32_t(k1));
    for (int g = 0; g < G; ++g) {
      __m256i hi0, lo0, hi1, lo1;
      mulhilo8(x[g][0], m0, hi0, lo0);
      mulhilo8(x[g][2], m1, hi1, lo1);
      x[g][0] = _mm256_xor_si256(_mm256_xor_si256(hi1, x[g][1]), vk0);
      x[g][1] = lo1;
      x[g][2] = _mm256_xor_si256(_mm256_xor_si256(hi0, x[g][3]), vk1);
      x[g][3] = lo0;
    }
  }
}

/// Writes the normals of 8 blocks whose words are lanes of (w0, w1, w2, w3), block after block.
inline void store8(const __m256i w[4], float* out) {
  __m256 z0, z1, z2, z3;
  box_muller8(w[0], w[1], z0, z1);
  box_muller8(w[2], w[3], z2, z3);
  // Transpose: lane l of (z0, z1, z2, z3) is block l.
  const __m256 t0 = _mm256_unpacklo_ps(z0, z1), t1 = _mm256_unpackhi_ps(z0, z1);
  const __m256 t2 = _mm256_unpacklo_ps(z2, z3), t3 = _mm256_unpackhi_ps(z2, z3);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  _mm256_storeu_ps(out, _mm256_permute2f128_ps(u0, u1, 0x20));
  _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
  _mm256_storeu_ps(out + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
  _mm256_storeu_ps(out + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
}

/// The 32 G normals of blocks j0 .. j0 + 8 G - 1, in order, to out.
template <int G>
inline void normal_blocks(std::uint64_t j0, std::uint32_t k0, std::uint32_t k1, float* out) {
  __m256i x[G][4];
  philox_groups<G>(j0, k0, k1, x);
  for (int g = 0; g < G; ++g) store8(x[g], out + 32 * g);
}

#endif

}  // namespace

void normals_scalar(std::uint64_t key, std::uint64_t first, std::span<float> out) {
  fill_scalar(std::uint32_t(key), std::uint32_t(key >> 32), first, out.data(), out.size());
}

void normals(std::uint64_t key, std::uint64_t first, std::span<float> out) {
#if defined(__AVX2__) && defined(__FMA__)
  const std::uint32_t k0 = std::uint32_t(key), k1 = std::uint32_t(key >> 32);
  float* o = out.data();
  std::size_t n = out.size();
  // Scalar up to a block boundary, then 32 blocks (128 normals) at a time, then 8 blocks at a time, the
  // last 8 through a buffer.
  const std::size_t head = std::min<std::size_t>(n, std::size_t((4 - first % 4) % 4));
  fill_scalar(k0, k1, first, o, head);
  o += head;
  n -= head;
  std::uint64_t j = (first + head) / 4;
  for (; n >= 128; n -= 128, o += 128, j += 32) normal_blocks<4>(j, k0, k1, o);
  for (; n >= 32; n -= 32, o += 32, j += 8) normal_blocks<1>(j, k0, k1, o);
  if (n > 0) {
    float buf[32];
    normal_blocks<1>(j, k0, k1, buf);
    std::copy(buf, buf + n, o);
  }
#else
  normals_scalar(key, first, out);
#endif
}

}  // namespace aimc::philox
