#pragma once
/// Tensor conventions, written down once for the whole code base.
///
/// * Scalars: activations, weights and conductance matrices are `float` (fp32), the precision
///   networks are trained and evaluated in. Statistics, SNR and device-physics formulas are `double`.
///   This is a fixed choice, not a build switch.
/// * A batch of activations is a row-major `Matrix` of shape (batch, features): one sample per row,
///   contiguous in memory.
/// * Images are stored channel-last (HWC) inside a row: feature index = (h * W + w) * C + c.
///   With this layout an im2col product (B*H*W, C_out) is the same memory as (B, H*W*C_out),
///   so convolutions need no transposes.
/// * A weight matrix in its "crossbar view" is (rows = inputs, cols = outputs): y = x * W + b.
#include <Eigen/Core>
#include <cstdint>
#include <string>

namespace aimc {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXf;
using VectorD = Eigen::VectorXd;
using RowVector = Eigen::RowVectorXf;
using MatrixI = Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using VectorI = Eigen::Matrix<std::int32_t, Eigen::Dynamic, 1>;

/// Shape of one sample: channels, height, width (stored HWC). A flat vector is (n, 1, 1).
struct Shape {
  int c = 1, h = 1, w = 1;
  int size() const { return c * h * w; }
  bool operator==(const Shape&) const = default;
  std::string str() const {
    return "(" + std::to_string(c) + "," + std::to_string(h) + "," + std::to_string(w) + ")";
  }
};

}  // namespace aimc
