#pragma once
/// Synthetic classification data drawn from a keyed random stream (core/random.hpp), for fast,
/// deterministic tests of training code. The same stream state gives the same data on every
/// machine and compiler.
#include "core/random.hpp"
#include "data/dataset.hpp"

namespace aimc::data {

/// Gaussian blobs: class c's samples are centre_c + N(0, I_d) (unit noise per feature).
struct BlobsParams {
  long long samples = 300;  ///< total samples n, >= 1
  int features = 2;         ///< d, >= 1
  int classes = 3;          ///< k, >= 1
  double separation = 4.0;  ///< distance between the two closest class centres, in noise sds, >= 0
};

/// Draws k centres from N(0, I_d) and rescales them jointly so the closest pair is `separation`
/// apart (k = 1: the centre is the origin); then sample i gets label i mod k (classes balanced to
/// within one, interleaved, so head(m) is balanced too) and features centre + N(0, I_d).
/// Draws from `stream` (centres first, so they do not depend on n); name "synthetic/blobs",
/// shape (d, 1, 1). Throws aimc::Error on parameters out of range.
Dataset make_blobs(const BlobsParams& p, Stream& stream);

/// Small single-channel images: class c's template is a bar two pixels thick at a class-specific
/// place (even classes horizontal, odd classes vertical, at ceil(k/2) evenly spaced offsets), of
/// brightness 1 on a background of 0, plus N(0, noise_sd^2) per pixel, clipped to [0, 1] like
/// image data. A convolutional net separates the classes easily; a linear one too, so use it for
/// speed and plumbing tests, not as a benchmark.
struct ImagesParams {
  long long samples = 400;  ///< total samples n, >= 1
  int classes = 4;          ///< k, 2 .. 2 * floor(size / 2) (bars of one orientation never overlap)
  int size = 8;             ///< image side in pixels, 4 .. 64
  double noise_sd = 0.3;    ///< per-pixel Gaussian noise sd (image units), >= 0
};

/// The noiseless template of class c: size * size values in {0, 1}, row-major.
RowVector bar_template(const ImagesParams& p, int c);

/// Draws the images (label i mod k, as in make_blobs) from `stream`; name "synthetic/bars",
/// shape (1, size, size).
Dataset make_bar_images(const ImagesParams& p, Stream& stream);

}  // namespace aimc::data
