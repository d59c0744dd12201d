// Training-image augmentation (data/augment.hpp): each augmented sample is exactly one of the allowed
// transforms of its source (checked against a reference built in two separate steps: zero-padded
// crop, then column reversal), the transform depends only on (seed, epoch, sample id), and the drawn
// shifts and flips have the uniform / fair-coin frequencies the documentation states.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "data/augment.hpp"

using namespace aimc;
using namespace aimc::data;

namespace {

/// Reference: pad the HWC image by `pad` zeros on every side, crop the window whose top-left corner is
/// (pad - dy, pad - dx), then reverse the columns if `flip`.
Matrix reference(const Matrix& row, Shape s, int dy, int dx, bool flip, int pad) {
  const int hp = s.h + 2 * pad, wp = s.w + 2 * pad;
  std::vector<float> padded(std::size_t(hp * wp * s.c), 0.f);
  for (int y = 0; y < s.h; ++y)
    for (int x = 0; x < s.w; ++x)
      for (int c = 0; c < s.c; ++c)
        padded[std::size_t(((y + pad) * wp + x + pad) * s.c + c)] = row(0, (y * s.w + x) * s.c + c);
  Matrix crop(1, s.size());
  for (int y = 0; y < s.h; ++y)
    for (int x = 0; x < s.w; ++x)
      for (int c = 0; c < s.c; ++c)
        crop(0, (y * s.w + x) * s.c + c) = padded[std::size_t(((y + pad - dy) * wp + x + pad - dx) * s.c + c)];
  if (!flip) return crop;
  Matrix out(1, s.size());
  for (int y = 0; y < s.h; ++y)
    for (int x = 0; x < s.w; ++x)
      for (int c = 0; c < s.c; ++c) out(0, (y * s.w + x) * s.c + c) = crop(0, (y * s.w + s.w - 1 - x) * s.c + c);
  return out;
}

struct Found {
  int count = 0, dy = 0, dx = 0;
  bool flip = false;
};
/// Which transforms with |dy|, |dx| <= shift map `src` to `out` (images with distinct pixel values: exactly one).
Found identify(const Matrix& src, const Matrix& out, Shape s, int shift) {
  Found f;
  for (int dy = -shift; dy <= shift; ++dy)
    for (int dx = -shift; dx <= shift; ++dx)
      for (bool flip : {false, true})
        if (reference(src, s, dy, dx, flip, shift) == out) f = {f.count + 1, dy, dx, flip};
  return f;
}

Matrix distinct_images(int n, Shape s) {
  Matrix x(n, s.size());
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < s.size(); ++j) x(i, j) = float(1 + j + 1000 * i);  // no zeros, all distinct
  return x;
}

}  // namespace

TEST_CASE("augment: none leaves the batch as it is, shift-flip gives one allowed transform per sample") {
  const Shape s{3, 6, 5};  // channels move together; h != w catches swapped axes
  const int n = 200, shift = 2;
  const Matrix x = distinct_images(n, s);
  std::vector<std::int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  Matrix y = x;
  augment(y, s, ids, {"none", shift}, 1, 0);
  CHECK(y == x);
  augment(y, s, ids, {"shift-flip", shift}, 1, 0);
  int changed = 0;
  for (int i = 0; i < n; ++i) {
    const Found f = identify(x.row(i), y.row(i), s, shift);
    INFO("sample " << i);
    REQUIRE(f.count == 1);
    changed += (f.dy != 0 || f.dx != 0 || f.flip);
  }
  // P(identity) = 1/(5*5*2) = 2%: at most ~4 of 200 expected; 190 changed is > 6 sd below the mean.
  CHECK(changed >= 180);
}

TEST_CASE("augment: the transform depends on (seed, epoch, sample id) only, not on the batch") {
  const Shape s{1, 7, 7};
  const Matrix x = distinct_images(6, s);
  std::vector<std::int64_t> ids{10, 11, 12, 13, 14, 15};
  Matrix a = x;
  augment(a, s, ids, {"shift-flip", 1}, 5, 3);
  // the same samples in reverse order, in two batches
  Matrix b(6, s.size());
  for (int i = 0; i < 6; ++i) b.row(i) = x.row(5 - i);
  std::vector<std::int64_t> rev(ids.rbegin(), ids.rend());
  Matrix b1 = b.topRows(2), b2 = b.bottomRows(4);
  augment(b1, s, std::span(rev).subspan(0, 2), {"shift-flip", 1}, 5, 3);
  augment(b2, s, std::span(rev).subspan(2, 4), {"shift-flip", 1}, 5, 3);
  for (int i = 0; i < 2; ++i) CHECK(b1.row(i) == a.row(5 - i));
  for (int i = 0; i < 4; ++i) CHECK(b2.row(i) == a.row(3 - i));
  // another epoch or seed draws other transforms (6 samples, 18 outcomes each: P(all equal) < 1e-6)
  Matrix c = x, d = x;
  augment(c, s, ids, {"shift-flip", 1}, 5, 4);
  augment(d, s, ids, {"shift-flip", 1}, 6, 3);
  CHECK(c != a);
  CHECK(d != a);
}

TEST_CASE("augment: shifts are uniform on [-shift, shift] and flips a fair coin") {
  // 4,000 samples, shift 2: each of the 5 dy values has p = 0.2, sd of its count sqrt(4000*0.2*0.8) = 25.3;
  // the flip count has sd sqrt(4000/4) = 31.6. Bounds at 5 sd: a correct implementation fails with
  // probability < 1e-5 per check.
  const Shape s{1, 5, 5};
  const int n = 4000, shift = 2;
  Matrix x = distinct_images(n, s);
  const Matrix src = x;
  std::vector<std::int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  augment(x, s, ids, {"shift-flip", shift}, 9, 1);
  std::vector<int> dy(5), dx(5);
  int flips = 0;
  for (int i = 0; i < n; ++i) {
    const Found f = identify(src.row(i), x.row(i), s, shift);
    REQUIRE(f.count == 1);
    ++dy[std::size_t(f.dy + shift)];
    ++dx[std::size_t(f.dx + shift)];
    flips += f.flip;
  }
  for (int k = 0; k < 5; ++k) {
    CHECK(std::abs(dy[std::size_t(k)] - 800) < 5 * 25.3);
    CHECK(std::abs(dx[std::size_t(k)] - 800) < 5 * 25.3);
  }
  CHECK(std::abs(flips - 2000) < 5 * 31.6);
}

TEST_CASE("augment: bad parameters are named") {
  auto msg = [](const AugmentParams& p, Shape s) {
    try {
      validate_augment(p, s, "train");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(msg({"shift-flip", 1}, {1, 28, 28}).empty());
  CHECK(msg({"none", 99}, {10, 1, 1}).empty());
  CHECK(msg({"rotate", 1}, {1, 28, 28}).find("unknown kind 'rotate'") != std::string::npos);
  CHECK(msg({"shift-flip", 1}, {10, 1, 1}).find("needs image samples") != std::string::npos);
  CHECK(msg({"shift-flip", 28}, {1, 28, 28}).find("augment_shift: 28 px") != std::string::npos);
  CHECK(msg({"shift-flip", -1}, {1, 28, 28}).find("augment_shift") != std::string::npos);
}
