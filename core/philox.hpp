#pragma once
/// Counter-based Gaussian numbers for bulk draws (Stream::fill_normal).
///
/// Generator: Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2,
/// 3", SC 2011, Sec. 4.2): 10 rounds of two 32 x 32 -> 64-bit multiplications (M0 = 0xD2511F53,
/// M1 = 0xCD9E8D57) on a 128-bit counter, with a 64-bit key bumped by the Weyl constants
/// (W0 = 0x9E3779B9, W1 = 0xBB67AE85) between rounds. It passes TestU01's BigCrush and is the generator
/// of cuRAND's default, JAX and PyTorch's CUDA back end. The tests check it against the D. E. Shaw
/// reference implementation (Debian's librandom123-dev).
///
/// Normal number i (i = 0, 1, ...) of the sequence with 64-bit key k:
///   block j = i / 4:  (w0, w1, w2, w3) = Philox4x32-10(counter = (j mod 2^32, j / 2^32, 0, 0),
///                                                      key = (k mod 2^32, k / 2^32))
///   (z_{4j}, z_{4j+1}) = BoxMuller(w0, w1),  (z_{4j+2}, z_{4j+3}) = BoxMuller(w2, w3)
/// with the Box-Muller transform (Box and Muller, Ann. Math. Stat. 1958) in float:
///   u = (float(w_a >> 1) + 0.5) 2^-31 in (0, 1],   r = sqrt(-2 ln u)
///   phi = 2 pi w_b / 2^32,                        (z_a, z_b) = (r cos phi, r sin phi).
/// u >= 2^-32 bounds |z| by sqrt(64 ln 2) = 6.66: the tail beyond has probability 2.7e-11.
/// ln, sin and cos are evaluated here, not by libm, in a fixed sequence of IEEE operations (explicit
/// fused multiply-adds, a correctly rounded division and square root), so the numbers are the same bits
/// with and without AVX2 and with any compiler flags:
///   ln u = e ln 2 + 2 atanh(s), u = 2^e m, m in [sqrt(1/2), sqrt(2)), s = (m - 1) / (m + 1), the atanh
///          series to s^9 (|s| <= 0.172, truncation about 2e-9 relative);
///   phi = q pi/2 + theta, |theta| <= pi/4 taken exactly from the integer w_b, then the Taylor series of
///          sin theta to theta^9 and cos theta to theta^10 (truncation < 2e-9).
/// Any first index and length can be generated directly: a draw depends only on (key, i).
#include <array>
#include <cstdint>
#include <span>

namespace aimc::philox {

using Block = std::array<std::uint32_t, 4>;

/// Philox4x32-10 of one counter under key (k0, k1).
Block philox4x32_10(Block counter, std::uint32_t k0, std::uint32_t k1);

/// The Box-Muller pair of two 32-bit words (see file comment), computed with the scalar code path.
std::array<float, 2> box_muller(std::uint32_t wa, std::uint32_t wb);

/// Fills out[t] = z_{first + t} of the sequence with key `key` (AVX2 when compiled for it).
void normals(std::uint64_t key, std::uint64_t first, std::span<float> out);
/// The same with the scalar code path only (the reference the AVX2 path is tested against).
void normals_scalar(std::uint64_t key, std::uint64_t first, std::span<float> out);

}  // namespace aimc::philox
