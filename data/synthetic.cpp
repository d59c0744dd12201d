#include "data/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace aimc::data {

namespace {

void check_samples(long long n) {
  if (n < 1 || n > (1LL << 31)) fail_param("samples", static_cast<double>(n), "expected 1 .. 2^31");
}

/// Label of sample i: interleaved classes, balanced to within one.
VectorI interleaved_labels(long long n, int classes) {
  VectorI y(n);
  for (long long i = 0; i < n; ++i) y(i) = static_cast<int>(i % classes);
  return y;
}

void validate(const ImagesParams& p) {
  check_samples(p.samples);
  if (p.size < 4 || p.size > 64) fail_param("size", p.size, "expected 4 .. 64 pixels");
  const int max_classes = 2 * (p.size / 2);
  if (p.classes < 2 || p.classes > max_classes) {
    fail_param("classes", p.classes, "expected 2 .. " + std::to_string(max_classes) + " for size " +
                                         std::to_string(p.size) + " (bars two pixels thick must not overlap)");
  }
  if (!(p.noise_sd >= 0.0 && std::isfinite(p.noise_sd))) {
    fail_param("noise_sd", p.noise_sd, "expected a finite standard deviation >= 0");
  }
}

}  // namespace

Dataset make_blobs(const BlobsParams& p, Stream& stream) {
  check_samples(p.samples);
  if (p.features < 1 || p.features > 100000) fail_param("features", p.features, "expected 1 .. 100000");
  if (p.classes < 1 || p.classes > 1000) fail_param("classes", p.classes, "expected 1 .. 1000");
  if (!(p.separation >= 0.0 && std::isfinite(p.separation))) {
    fail_param("separation", p.separation, "expected a finite distance >= 0 (noise standard deviations)");
  }
  const int d = p.features, k = p.classes;

  MatrixD centres = MatrixD::Zero(k, d);
  if (k > 1) {
    for (int c = 0; c < k; ++c)
      for (int j = 0; j < d; ++j) centres(c, j) = stream.normal();
    double dmin = std::numeric_limits<double>::infinity();
    for (int a = 0; a < k; ++a)
      for (int b = a + 1; b < k; ++b) dmin = std::min(dmin, (centres.row(a) - centres.row(b)).norm());
    // Two continuous draws coincide with probability zero; the check only keeps a division by 0 out.
    if (!(dmin > 0.0)) throw Error("make_blobs: two class centres coincide; use another stream");
    centres *= p.separation / dmin;
  }

  Dataset ds;
  ds.name = "synthetic/blobs";
  ds.shape = Shape{d, 1, 1};
  ds.classes = k;
  ds.y = interleaved_labels(p.samples, k);
  ds.x.resize(p.samples, d);
  stream.fill_normal(ds.x);
  for (long long i = 0; i < p.samples; ++i) ds.x.row(i) += centres.row(ds.y(i)).cast<float>();
  return ds;
}

RowVector bar_template(const ImagesParams& p, int c) {
  validate(p);
  if (c < 0 || c >= p.classes) fail_param("class", c, "expected 0 .. " + std::to_string(p.classes - 1));
  const int s = p.size;
  const int places = (p.classes + 1) / 2;
  const int place = c / 2;
  // Bar centre at (place + 1/2) * s / places; the bar covers the two pixels around it.
  const int first = ((2 * place + 1) * s) / (2 * places) - 1;
  RowVector t = RowVector::Zero(s * s);
  for (int a = 0; a < s; ++a) {
    for (int b = first; b < first + 2; ++b) {
      const int h = (c % 2 == 0) ? b : a;
      const int w = (c % 2 == 0) ? a : b;
      t(h * s + w) = 1.0f;
    }
  }
  return t;
}

Dataset make_bar_images(const ImagesParams& p, Stream& stream) {
  validate(p);
  Matrix templates(p.classes, p.size * p.size);
  for (int c = 0; c < p.classes; ++c) templates.row(c) = bar_template(p, c);

  Dataset ds;
  ds.name = "synthetic/bars";
  ds.shape = Shape{1, p.size, p.size};
  ds.classes = p.classes;
  ds.y = interleaved_labels(p.samples, p.classes);
  ds.x.resize(p.samples, ds.shape.size());
  if (p.noise_sd > 0.0) {
    stream.fill_normal(ds.x, 0.f, static_cast<float>(p.noise_sd));
  } else {
    ds.x.setZero();
  }
  for (long long i = 0; i < p.samples; ++i) ds.x.row(i) += templates.row(ds.y(i));
  ds.x = ds.x.cwiseMax(0.f).cwiseMin(1.f);
  return ds;
}

}  // namespace aimc::data
