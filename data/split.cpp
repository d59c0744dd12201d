#include "data/split.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"

namespace aimc::data {

namespace {

Dataset gather(const Dataset& d, const std::vector<Eigen::Index>& rows, const std::string& suffix) {
  Dataset out;
  out.name = d.name + suffix;
  out.shape = d.shape;
  out.classes = d.classes;
  out.x.resize(static_cast<Eigen::Index>(rows.size()), d.x.cols());
  out.y.resize(static_cast<Eigen::Index>(rows.size()));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto r = static_cast<Eigen::Index>(i);
    out.x.row(r) = d.x.row(rows[i]);
    out.y(r) = d.y(rows[i]);
  }
  return out;
}

}  // namespace

TrainTest train_test_split(const Dataset& d, double test_fraction, Stream& stream) {
  if (!(test_fraction > 0.0 && test_fraction < 1.0)) {
    fail_param("test_fraction", test_fraction, "expected a fraction in (0, 1)");
  }
  if (d.y.size() != d.x.rows()) {
    throw Error(d.name + ": " + std::to_string(d.y.size()) + " labels for " + std::to_string(d.x.rows()) + " samples");
  }
  std::vector<std::vector<Eigen::Index>> by_class(static_cast<std::size_t>(std::max(d.classes, 0)));
  for (Eigen::Index i = 0; i < d.y.size(); ++i) {
    const int c = d.y(i);
    if (c < 0 || c >= d.classes) {
      throw Error(d.name + ": label " + std::to_string(c) + " at sample " + std::to_string(i) + ", expected 0.." +
                  std::to_string(d.classes - 1));
    }
    by_class[static_cast<std::size_t>(c)].push_back(i);
  }
  std::vector<Eigen::Index> train, test;
  for (auto& idx : by_class) {
    stream.shuffle(idx.begin(), idx.end());
    const auto n_test = static_cast<std::size_t>(std::llround(test_fraction * static_cast<double>(idx.size())));
    test.insert(test.end(), idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n_test));
    train.insert(train.end(), idx.begin() + static_cast<std::ptrdiff_t>(n_test), idx.end());
  }
  stream.shuffle(train.begin(), train.end());
  stream.shuffle(test.begin(), test.end());
  return {gather(d, train, "/train"), gather(d, test, "/test")};
}

Standardization fit_standardization(const Dataset& train) {
  const Eigen::Index n = train.x.rows(), f = train.x.cols();
  if (n == 0) throw Error(train.name + ": cannot standardize with an empty training set");
  const MatrixD x = train.x.cast<double>();
  const Eigen::RowVectorXd mean = x.colwise().mean();
  const Eigen::RowVectorXd var = (x.rowwise() - mean).array().square().colwise().sum() / static_cast<double>(n);
  Standardization s;
  s.mean = mean.cast<float>();
  s.sd.resize(f);
  for (Eigen::Index j = 0; j < f; ++j) {
    const double sd = std::sqrt(var(j));
    s.sd(j) = sd > 0.0 ? static_cast<float>(sd) : 1.0f;
  }
  return s;
}

void standardize(Dataset& d, const Standardization& s) {
  if (s.mean.size() != d.x.cols() || s.sd.size() != d.x.cols()) {
    throw Error(d.name + ": standardization has " + std::to_string(s.mean.size()) + " features, data has " +
                std::to_string(d.x.cols()));
  }
  d.x = ((d.x.rowwise() - s.mean).array().rowwise() / s.sd.array()).matrix();
}

}  // namespace aimc::data
