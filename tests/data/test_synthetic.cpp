#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/random.hpp"
#include "data/synthetic.hpp"
#include "tests/data/helpers.hpp"

using namespace aimc;
using namespace aimc::data;
using aimc::test::error_of;

namespace {

std::vector<long long> counts(const Dataset& d) {
  std::vector<long long> n(static_cast<std::size_t>(d.classes), 0);
  for (Eigen::Index i = 0; i < d.y.size(); ++i) ++n.at(static_cast<std::size_t>(d.y(i)));
  return n;
}

/// Per-class feature means, (classes, features), in double.
MatrixD class_means(const Dataset& d) {
  MatrixD m = MatrixD::Zero(d.classes, d.x.cols());
  const std::vector<long long> n = counts(d);
  for (Eigen::Index i = 0; i < d.size(); ++i) m.row(d.y(i)) += d.x.row(i).cast<double>();
  for (int c = 0; c < d.classes; ++c) m.row(c) /= static_cast<double>(n[static_cast<std::size_t>(c)]);
  return m;
}

}  // namespace

TEST_CASE("blobs: same stream gives identical data, different streams differ") {
  const BlobsParams p{301, 5, 3, 4.0};
  Stream a(1, "blobs"), b(1, "blobs"), c(2, "blobs");
  const Dataset da = make_blobs(p, a), db = make_blobs(p, b), dc = make_blobs(p, c);
  CHECK(da.x == db.x);
  CHECK(da.y == db.y);
  CHECK(da.x != dc.x);
  // Drawing again from the advanced stream gives new data.
  CHECK(make_blobs(p, a).x != da.x);
  CHECK(da.name == "synthetic/blobs");
  CHECK(da.shape == Shape{5, 1, 1});
  CHECK(da.classes == 3);
  CHECK(counts(da) == std::vector<long long>{101, 100, 100});
  // Interleaved labels: any prefix is balanced too.
  CHECK(counts(da.head(30)) == std::vector<long long>{10, 10, 10});
}

TEST_CASE("blobs: closest class means are `separation` apart, within-class spread is 1") {
  // n_c = 4000 per class, d = 2: each class-mean coordinate has standard error 1/sqrt(4000) = 0.0158,
  // so a distance between two class means has standard error <= sqrt(2) * 0.0158 = 0.0224; 5 sigma
  // = 0.112. The per-feature sample variance has standard error sqrt(2 / 4000) = 0.0224; 5 sigma = 0.112.
  const int k = 4;
  const BlobsParams p{4000LL * k, 2, k, 3.0};
  Stream s(7, "blobs-moments");
  const Dataset d = make_blobs(p, s);
  const MatrixD m = class_means(d);
  double dmin = 1e300;
  for (int a = 0; a < k; ++a)
    for (int b = a + 1; b < k; ++b) dmin = std::min(dmin, (m.row(a) - m.row(b)).norm());
  CHECK(std::abs(dmin - 3.0) < 0.112);
  for (int c = 0; c < k; ++c) {
    for (int j = 0; j < 2; ++j) {
      double ss = 0;
      long long n = 0;
      for (Eigen::Index i = 0; i < d.size(); ++i) {
        if (d.y(i) != c) continue;
        ss += std::pow(d.x(i, j) - m(c, j), 2);
        ++n;
      }
      CHECK(std::abs(ss / static_cast<double>(n - 1) - 1.0) < 0.112);
    }
  }
}

TEST_CASE("blobs: one class sits at the origin, bad parameters are rejected") {
  Stream s(3, "blobs");
  const Dataset one = make_blobs(BlobsParams{2000, 3, 1, 5.0}, s);
  // Mean of 2000 N(0,1) values: standard error 0.0224, 5 sigma = 0.112.
  CHECK(class_means(one).cwiseAbs().maxCoeff() < 0.112);
  CHECK(error_of([&] { make_blobs(BlobsParams{0, 2, 2, 1.0}, s); }) == "parameter 'samples' = 0: expected 1 .. 2^31");
  CHECK(error_of([&] { make_blobs(BlobsParams{10, 0, 2, 1.0}, s); }) ==
        "parameter 'features' = 0: expected 1 .. 100000");
  CHECK(error_of([&] { make_blobs(BlobsParams{10, 2, 0, 1.0}, s); }) == "parameter 'classes' = 0: expected 1 .. 1000");
  CHECK(error_of([&] { make_blobs(BlobsParams{10, 2, 2, -1.0}, s); }) ==
        "parameter 'separation' = -1: expected a finite distance >= 0 (noise standard deviations)");
  CHECK(error_of([&] { make_blobs(BlobsParams{10, 2, 2, NAN}, s); }).rfind("parameter 'separation' = nan", 0) == 0);
}

TEST_CASE("bar images: templates are distinct bars, noiseless samples equal their template") {
  for (int size : {8, 9, 12}) {
    for (int k = 2; k <= 2 * (size / 2); ++k) {
      CAPTURE(size);
      CAPTURE(k);
      const ImagesParams p{50, k, size, 0.0};
      std::vector<RowVector> t;
      for (int c = 0; c < k; ++c) {
        t.push_back(bar_template(p, c));
        CHECK(t.back().sum() == 2.0f * static_cast<float>(size));  // 2 x size pixels lit
        CHECK(((t.back().array() == 0.f) || (t.back().array() == 1.f)).all());
      }
      for (int a = 0; a < k; ++a)
        for (int b = a + 1; b < k; ++b) {
          // Same orientation: disjoint bars; different orientation: a 2x2 crossing only.
          const float overlap = t[static_cast<std::size_t>(a)].cwiseProduct(t[static_cast<std::size_t>(b)]).sum();
          CHECK(overlap == ((a - b) % 2 == 0 ? 0.0f : 4.0f));
        }
      Stream s(1, "bars");
      const Dataset d = make_bar_images(p, s);
      for (Eigen::Index i = 0; i < d.size(); ++i) CHECK(d.x.row(i) == t[static_cast<std::size_t>(d.y(i))]);
    }
  }
  // Class 0 of 4 on 8x8: horizontal bar at rows 1-2; class 1: vertical bar at columns 1-2.
  const ImagesParams p{10, 4, 8, 0.0};
  CHECK(bar_template(p, 0)(1 * 8 + 5) == 1.0f);
  CHECK(bar_template(p, 0)(2 * 8 + 0) == 1.0f);
  CHECK(bar_template(p, 0)(3 * 8 + 0) == 0.0f);
  CHECK(bar_template(p, 1)(6 * 8 + 2) == 1.0f);
  CHECK(bar_template(p, 1)(6 * 8 + 3) == 0.0f);
  CHECK(bar_template(p, 3)(0 * 8 + 5) == 1.0f);
}

TEST_CASE("bar images: determinism, balance, range, and classes a nearest-template rule separates") {
  const ImagesParams p{1001, 6, 12, 0.3};
  Stream a(9, "bars"), b(9, "bars"), c(10, "bars");
  const Dataset da = make_bar_images(p, a), db = make_bar_images(p, b), dc = make_bar_images(p, c);
  CHECK(da.x == db.x);
  CHECK(da.x != dc.x);
  CHECK(da.name == "synthetic/bars");
  CHECK(da.shape == Shape{1, 12, 12});
  CHECK(da.x.cols() == 144);
  CHECK(counts(da) == std::vector<long long>{167, 167, 167, 167, 167, 166});
  CHECK(da.x.minCoeff() >= 0.0f);
  CHECK(da.x.maxCoeff() <= 1.0f);
  // Two templates differ in at least 2 * (2 * 12) - 2 * 4 = 40 pixels, so they are sqrt(40) = 6.3
  // apart; noise of sd 0.3 projected on the difference direction must exceed half that, 3.2 / 0.3 =
  // 10.5 sd, to confuse them (clipping only shrinks noise): no error is expected in 1001 samples.
  long long wrong = 0;
  for (Eigen::Index i = 0; i < da.size(); ++i) {
    int best = -1;
    float best_d = 1e30f;
    for (int k = 0; k < p.classes; ++k) {
      const float dist = (da.x.row(i) - bar_template(p, k)).squaredNorm();
      if (dist < best_d) best_d = dist, best = k;
    }
    wrong += best != da.y(i);
  }
  CHECK(wrong == 0);
}

TEST_CASE("bar images: bad parameters are rejected") {
  Stream s(1, "bars");
  CHECK(error_of([&] { make_bar_images(ImagesParams{10, 9, 8, 0.1}, s); }) ==
        "parameter 'classes' = 9: expected 2 .. 8 for size 8 (bars two pixels thick must not overlap)");
  CHECK(error_of([&] { make_bar_images(ImagesParams{10, 9, 9, 0.1}, s); }) ==
        "parameter 'classes' = 9: expected 2 .. 8 for size 9 (bars two pixels thick must not overlap)");
  CHECK(error_of([&] { make_bar_images(ImagesParams{10, 1, 8, 0.1}, s); }).rfind("parameter 'classes' = 1", 0) == 0);
  CHECK(error_of([&] { make_bar_images(ImagesParams{10, 2, 3, 0.1}, s); }) ==
        "parameter 'size' = 3: expected 4 .. 64 pixels");
  CHECK(error_of([&] { make_bar_images(ImagesParams{10, 2, 8, -0.1}, s); }) ==
        "parameter 'noise_sd' = -0.1: expected a finite standard deviation >= 0");
  CHECK(error_of([&] { make_bar_images(ImagesParams{0, 2, 8, 0.1}, s); }) ==
        "parameter 'samples' = 0: expected 1 .. 2^31");
  CHECK(error_of([&] { bar_template(ImagesParams{10, 4, 8, 0.1}, 4); }) == "parameter 'class' = 4: expected 0 .. 3");
}
