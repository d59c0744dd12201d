#include <cmath>
#include <string>

#include "core/error.hpp"
#include "nets/layer.hpp"

namespace aimc::nets {

namespace {
void check_labels(const char* what, const Matrix& logits, const VectorI& labels) {
  if (labels.size() != logits.rows())
    throw Error(std::string(what) + ": " + std::to_string(labels.size()) + " labels for " +
                std::to_string(logits.rows()) + " rows of logits");
  for (Eigen::Index i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= logits.cols())
      throw Error(std::string(what) + ": label " + std::to_string(labels[i]) + " of sample " + std::to_string(i) +
                  " is outside [0, " + std::to_string(logits.cols()) + ")");
}
}  // namespace

double softmax_cross_entropy(const Matrix& logits, const VectorI& labels, Matrix* dlogits) {
  check_labels("softmax_cross_entropy", logits, labels);
  const Eigen::Index batch = logits.rows(), classes = logits.cols();
  if (batch == 0) throw Error("softmax_cross_entropy: empty batch, the mean loss is undefined");
  if (dlogits) dlogits->resize(batch, classes);
  // Per row, log-sum-exp shifted by the row maximum (every exp argument <= 0, so nothing overflows),
  // accumulated in double.
  double total = 0;
  for (Eigen::Index b = 0; b < batch; ++b) {
    const float* z = logits.data() + b * classes;
    double m = z[0];
    for (Eigen::Index j = 1; j < classes; ++j) m = std::max(m, double(z[j]));
    double s = 0;
    for (Eigen::Index j = 0; j < classes; ++j) s += std::exp(double(z[j]) - m);
    const double lse = m + std::log(s);
    total += lse - double(z[labels[b]]);
    if (dlogits) {
      float* d = dlogits->data() + b * classes;
      for (Eigen::Index j = 0; j < classes; ++j) {
        const double p = std::exp(double(z[j]) - lse);
        d[j] = float((p - (j == labels[b] ? 1.0 : 0.0)) / double(batch));
      }
    }
  }
  return total / double(batch);
}

long long count_correct(const Matrix& logits, const VectorI& labels) {
  check_labels("count_correct", logits, labels);
  long long correct = 0;
  for (Eigen::Index b = 0; b < logits.rows(); ++b) {
    const float* z = logits.data() + b * logits.cols();
    Eigen::Index arg = 0;  // first maximum on ties
    for (Eigen::Index j = 1; j < logits.cols(); ++j)
      if (z[j] > z[arg]) arg = j;
    correct += arg == labels[b];
  }
  return correct;
}

}  // namespace aimc::nets
