#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "core/random.hpp"
#include "data/fashion_mnist.hpp"
#include "data/load.hpp"
#include "data/iris.hpp"
#include "data/split.hpp"
#include "tests/data/helpers.hpp"

using namespace aimc;
using namespace aimc::data;
using aimc::test::error_of;
using aimc::test::ScopedEnv;
using aimc::test::ScratchDir;
using aimc::test::write_bytes;
using aimc::test::write_text;

namespace {

std::vector<long long> class_counts(const Dataset& d) {
  std::vector<long long> n(static_cast<std::size_t>(d.classes), 0);
  long long out_of_range = 0;
  for (Eigen::Index i = 0; i < d.y.size(); ++i) {
    if (d.y(i) < 0 || d.y(i) >= d.classes) {
      ++out_of_range;
    } else {
      ++n[static_cast<std::size_t>(d.y(i))];
    }
  }
  CHECK(out_of_range == 0);
  return n;
}

/// Checks common to both Fashion-MNIST splits.
void check_fashion_mnist(const Dataset& d, long long n) {
  CHECK(d.size() == n);
  CHECK(d.y.size() == n);
  CHECK(d.shape == Shape{1, 28, 28});
  CHECK(d.x.cols() == 784);
  CHECK(d.classes == 10);
  CHECK(class_counts(d) == std::vector<long long>(10, n / 10));
  CHECK(d.x.minCoeff() == 0.0f);
  CHECK(d.x.maxCoeff() == 1.0f);
  // Every value is a byte / 255.
  const Matrix bytes = (d.x * 255.0f).array().round().matrix();
  CHECK((d.x - bytes / 255.0f).cwiseAbs().maxCoeff() == 0.0f);
}

std::vector<std::uint8_t> idx(std::uint8_t rank, const std::vector<std::uint32_t>& dims, std::vector<std::uint8_t> data) {
  std::vector<std::uint8_t> b = {0, 0, 8, rank};
  for (auto d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

}  // namespace

// Reference values below were computed from the package's files with Python's gzip module, i.e.
// independently of this reader. The Debian package dataset-fashion-mnist must be installed (CI and
// scripts/bootstrap.sh install it); without it these tests fail with the loader's message.
TEST_CASE("fashion-mnist: test split from the Debian package") {
  const Dataset d = load_fashion_mnist("test");
  CHECK(d.name == "fashion-mnist/test");
  check_fashion_mnist(d, 10000);
  const std::vector<int> first = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
  for (int i = 0; i < 10; ++i) CHECK(d.y(i) == first[static_cast<std::size_t>(i)]);
  CHECK(d.x.row(0).cast<double>().sum() * 255.0 == doctest::Approx(33456).epsilon(1e-6));
  CHECK(d.x.cast<double>().sum() * 255.0 == doctest::Approx(573469082.0).epsilon(1e-7));
}

TEST_CASE("fashion-mnist: train split from the Debian package") {
  const Dataset d = load_fashion_mnist("train");
  CHECK(d.name == "fashion-mnist/train");
  check_fashion_mnist(d, 60000);
  const std::vector<int> first = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
  for (int i = 0; i < 10; ++i) CHECK(d.y(i) == first[static_cast<std::size_t>(i)]);
  CHECK(d.x.row(0).cast<double>().sum() * 255.0 == doctest::Approx(76247).epsilon(1e-6));
  CHECK(d.x.cast<double>().sum() * 255.0 == doctest::Approx(3431114169.0).epsilon(1e-7));
}

TEST_CASE("fashion-mnist: directory resolution and errors, on small generated files") {
  ScratchDir dir("fashion-mnist");
  std::vector<std::uint8_t> pixels(3 * 28 * 28);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>(i % 256);
  // Plain (not gzipped) files: the loader falls back to them when no .gz exists.
  write_bytes(dir.file("t10k-images-idx3-ubyte"), idx(3, {3, 28, 28}, pixels));
  write_bytes(dir.file("t10k-labels-idx1-ubyte"), idx(1, {3}, {4, 0, 9}));

  SUBCASE("explicit directory, pixels scaled by 1/255") {
    const Dataset d = load_fashion_mnist("test", dir.str());
    REQUIRE(d.size() == 3);
    CHECK(d.y(0) == 4);
    CHECK(d.y(2) == 9);
    CHECK(d.x(0, 255) == 1.0f);
    CHECK(d.x(0, 1) == 1.0f / 255.0f);
    CHECK(d.x(1, 784 - 1) == static_cast<float>((784 + 783) % 256) / 255.0f);
  }
  SUBCASE("environment variable, and the argument wins over it") {
    {
      ScopedEnv env("AIMC_FASHION_MNIST_DIR", dir.str());
      CHECK(fashion_mnist_dir() == dir.str());
      CHECK(load_fashion_mnist("test").size() == 3);
      CHECK(fashion_mnist_dir("/elsewhere") == "/elsewhere");
    }
    {
      ScopedEnv env("AIMC_FASHION_MNIST_DIR", "");
      CHECK(fashion_mnist_dir() == "/usr/share/datasets/fashion-mnist");
    }
  }
  SUBCASE("missing directory names it and says how to install") {
    const std::string missing = dir.file("nope");
    CHECK(error_of([&] { load_fashion_mnist("test", missing); }) ==
          "fashion-mnist: directory " + missing +
              " (given) does not exist: run scripts/bootstrap.sh (or apt-get install dataset-fashion-mnist), or set "
              "AIMC_FASHION_MNIST_DIR to a directory holding the IDX files");
    ScopedEnv env("AIMC_FASHION_MNIST_DIR", missing);
    CHECK(error_of([&] { load_fashion_mnist("test"); }).find("(from AIMC_FASHION_MNIST_DIR)") != std::string::npos);
  }
  SUBCASE("missing file") {
    const std::string msg = error_of([&] { load_fashion_mnist("train", dir.str()); });
    CHECK(msg.rfind("fashion-mnist: " + dir.file("train-images-idx3-ubyte.gz") + " not found", 0) == 0);
    CHECK(msg.find("scripts/bootstrap.sh") != std::string::npos);
  }
  SUBCASE("bad split") {
    CHECK(error_of([&] { load_fashion_mnist("validation", dir.str()); }) ==
          "fashion-mnist: split 'validation': expected 'train' or 'test'");
  }
  SUBCASE("label count differs from image count") {
    write_bytes(dir.file("t10k-labels-idx1-ubyte"), idx(1, {2}, {4, 0}));
    CHECK(error_of([&] { load_fashion_mnist("test", dir.str()); }) ==
          dir.file("t10k-labels-idx1-ubyte") + ": 2 labels for 3 images in " + dir.file("t10k-images-idx3-ubyte"));
  }
  SUBCASE("the first items only, with the declared counts still checked") {
    const Dataset all = load_fashion_mnist("test", dir.str());
    const Dataset two = load_fashion_mnist("test", dir.str(), 2);
    REQUIRE(two.size() == 2);
    CHECK(two.x == all.x.topRows(2));
    CHECK(two.y == all.y.head(2));
    CHECK(load_dataset("fashion-mnist", "test", dir.str(), 2).x == all.x.topRows(2));
    CHECK(load_dataset("fashion-mnist", "test", dir.str(), 7).size() == 3);
    write_bytes(dir.file("t10k-labels-idx1-ubyte"), idx(1, {2}, {4, 0}));
    CHECK(error_of([&] { load_fashion_mnist("test", dir.str(), 1); }) ==
          dir.file("t10k-labels-idx1-ubyte") + ": 2 labels for 3 images in " + dir.file("t10k-images-idx3-ubyte"));
  }
  SUBCASE("label out of range") {
    write_bytes(dir.file("t10k-labels-idx1-ubyte"), idx(1, {3}, {4, 10, 0}));
    CHECK(error_of([&] { load_fashion_mnist("test", dir.str()); }) ==
          dir.file("t10k-labels-idx1-ubyte") + ": label 10 at item 1, expected 0..9");
  }
  SUBCASE("images of the wrong size") {
    write_bytes(dir.file("t10k-images-idx3-ubyte"), idx(3, {3, 28, 27}, std::vector<std::uint8_t>(3 * 28 * 27)));
    CHECK(error_of([&] { load_fashion_mnist("test", dir.str()); }) ==
          dir.file("t10k-images-idx3-ubyte") + ": images are 28x27, expected 28x28");
  }
}

// Fisher (1936) Table I, as in R's `iris`: overall and per-species means, in cm. The Debian package
// python3-sklearn must be installed (CI and scripts/bootstrap.sh install it).
TEST_CASE("iris: the CSV from python3-sklearn is Fisher's data") {
  const Dataset d = load_iris();
  CHECK(d.name == "iris");
  REQUIRE(d.size() == 150);
  CHECK(d.shape == Shape{4, 1, 1});
  CHECK(d.x.cols() == 4);
  CHECK(d.classes == 3);
  CHECK(class_counts(d) == std::vector<long long>{50, 50, 50});
  const std::array<double, 4> mean = {5.843, 3.057, 3.758, 1.199};
  const std::array<std::array<double, 4>, 3> class_mean = {{{5.006, 3.428, 1.462, 0.246},
                                                            {5.936, 2.770, 4.260, 1.326},
                                                            {6.588, 2.974, 5.552, 2.026}}};
  for (int j = 0; j < 4; ++j) {
    CAPTURE(j);
    // The data has one decimal, so the rounded means are exact: agreement to 3 decimals.
    CHECK(std::abs(d.x.col(j).cast<double>().mean() - mean[static_cast<std::size_t>(j)]) < 0.0005);
    for (int c = 0; c < 3; ++c) {
      double s = 0;
      for (int i = 0; i < 150; ++i) s += d.y(i) == c ? d.x(i, j) : 0.0;
      CHECK(std::abs(s / 50 - class_mean[static_cast<std::size_t>(c)][static_cast<std::size_t>(j)]) < 0.0005);
    }
  }
  CHECK(d.x.minCoeff() == doctest::Approx(0.1));
  CHECK(d.x.maxCoeff() == doctest::Approx(7.9));
}

TEST_CASE("iris: accepted layouts and the path override") {
  ScratchDir dir("iris-layouts");
  const Dataset ref = load_iris();
  // UCI layout: species names with "Iris-" prefix, no header, CRLF, spaces, a blank line at the end.
  std::ostringstream uci;
  uci.precision(3);
  for (int i = 0; i < 150; ++i) {
    for (int j = 0; j < 4; ++j) uci << ref.x(i, j) << (j == 1 ? " , " : ",");
    uci << "Iris-" << iris_class_names[static_cast<std::size_t>(ref.y(i))] << "\r\n";
  }
  uci << "\r\n";
  write_text(dir.file("iris.data"), uci.str());
  write_text(dir.file("named.csv"), "sepal_length,sepal_width,petal_length,petal_width,species\n" + uci.str());

  for (const std::string name : {"iris.data", "named.csv"}) {
    CAPTURE(name);
    const Dataset d = load_iris(dir.file(name));
    CHECK(d.x == ref.x);
    CHECK(d.y == ref.y);
  }
  {
    ScopedEnv env("AIMC_IRIS_CSV", dir.file("iris.data"));
    CHECK(iris_csv_path() == dir.file("iris.data"));
    CHECK(load_iris().y == ref.y);
    CHECK(iris_csv_path("/given.csv") == "/given.csv");
  }
  {
    ScopedEnv env("AIMC_IRIS_CSV", "");
    CHECK(iris_csv_path() == "/usr/lib/python3/dist-packages/sklearn/datasets/data/iris.csv");
  }
}

TEST_CASE("iris: bad CSV files give errors naming the file and line") {
  ScratchDir dir("iris-bad");
  const std::string p = dir.file("iris.csv");
  const std::string head = "150,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n";
  auto err = [&](const std::string& text) {
    write_text(p, text);
    return error_of([&] { load_iris(p); });
  };
  CHECK(err(head + "4.9,3.0,1.4,0\n") ==
        p + ": line 3: expected 5 comma-separated fields (4 measurements in cm, species), got 4");
  CHECK(err(head + "4.9,3.0,1.4,0.2,0,7\n") ==
        p + ": line 3: expected 5 comma-separated fields (4 measurements in cm, species), got 6");
  CHECK(err(head + "\n4.9,abc,1.4,0.2,0\n") == p + ": line 4: field 2 (sepal width) 'abc' is not a number");
  CHECK(err(head + "4.9,3.0,1.4x,0.2,0\n") == p + ": line 3: field 3 (petal length) '1.4x' is not a number");
  CHECK(err(head + "4.9,3.0,,0.2,0\n") == p + ": line 3: field 3 (petal length) '' is not a number");
  CHECK(err(head + "4.9,3.0,nan,0.2,0\n") == p + ": line 3: field 3 (petal length) 'nan' is not a number");
  CHECK(err(head + "-4.9,3.0,1.4,0.2,0\n") ==
        p + ": line 3: field 1 (sepal length) = -4.9, expected a positive length in cm");
  CHECK(err(head + "4.9,3.0,1.4,0.2,3\n") ==
        p + ": line 3: species '3', expected 0, 1, 2, setosa, versicolor or virginica");
  CHECK(err("150,5,setosa,versicolor,virginica\n") == p + ": line 1: header declares '5' features, expected 4");
  CHECK(err(head) == p + ": header declares 150 samples, file has 1");
  CHECK(err("5.1,3.5,1.4,0.2,0\n") == p + ": 1 samples, expected Iris's 150");
  std::string lopsided;
  for (int i = 0; i < 150; ++i) lopsided += i < 51 ? "5.1,3.5,1.4,0.2,0\n" : i < 100 ? "5.1,3.5,1.4,0.2,1\n" : "5.1,3.5,1.4,0.2,2\n";
  CHECK(err(lopsided) == p + ": 51 samples of setosa, expected 50");
  CHECK(err("") == p + ": 0 samples, expected Iris's 150");
  const std::string missing = dir.file("absent.csv");
  CHECK(error_of([&] { load_iris(missing); }) ==
        missing + ": Iris CSV not found (given): run scripts/bootstrap.sh (or apt-get install python3-sklearn), or "
                  "set AIMC_IRIS_CSV to the file");
}

TEST_CASE("split: stratified, deterministic for a stream, a partition of the data") {
  const Dataset d = load_iris();
  Stream s1(11, "split"), s2(11, "split"), s3(12, "split");
  const TrainTest a = train_test_split(d, 0.2, s1);
  const TrainTest b = train_test_split(d, 0.2, s2);
  const TrainTest c = train_test_split(d, 0.2, s3);
  CHECK(a.train.name == "iris/train");
  CHECK(a.test.name == "iris/test");
  CHECK(a.train.size() == 120);
  CHECK(a.test.size() == 30);
  CHECK(class_counts(a.train) == std::vector<long long>{40, 40, 40});
  CHECK(class_counts(a.test) == std::vector<long long>{10, 10, 10});
  CHECK(a.train.shape == d.shape);
  CHECK(a.test.classes == 3);
  CHECK(a.train.x == b.train.x);
  CHECK(a.test.y == b.test.y);
  CHECK(a.train.x != c.train.x);
  // Shuffled: the training set is not in class order.
  CHECK(!std::is_sorted(a.train.y.data(), a.train.y.data() + a.train.y.size()));

  // Train and test together hold exactly the original rows (as a multiset: Iris has duplicates).
  using Row = std::tuple<int, float, float, float, float>;
  auto rows = [](const Dataset& x, std::vector<Row>& out) {
    for (int i = 0; i < x.size(); ++i) out.emplace_back(x.y(i), x.x(i, 0), x.x(i, 1), x.x(i, 2), x.x(i, 3));
  };
  std::vector<Row> all, parts;
  rows(d, all);
  rows(a.train, parts);
  rows(a.test, parts);
  std::sort(all.begin(), all.end());
  std::sort(parts.begin(), parts.end());
  CHECK(all == parts);

  CHECK(error_of([&] { train_test_split(d, 1.0, s1); }) ==
        "parameter 'test_fraction' = 1: expected a fraction in (0, 1)");
  CHECK(error_of([&] { train_test_split(d, 0.0, s1); }) ==
        "parameter 'test_fraction' = 0: expected a fraction in (0, 1)");
}

TEST_CASE("standardize: z-scores with training statistics") {
  const Dataset d = load_iris();
  Stream s(5, "split");
  TrainTest tt = train_test_split(d, 0.3, s);
  const Standardization st = fit_standardization(tt.train);
  REQUIRE(st.mean.size() == 4);
  const float raw_test = tt.test.x(3, 2);
  standardize(tt.train, st);
  standardize(tt.test, st);
  const MatrixD z = tt.train.x.cast<double>();
  for (int j = 0; j < 4; ++j) {
    CAPTURE(j);
    const double m = z.col(j).mean();
    const double sd = std::sqrt((z.col(j).array() - m).square().mean());
    // float rounding only: 105 values of magnitude ~3, relative error ~1e-7 each.
    CHECK(std::abs(m) < 1e-5);
    CHECK(std::abs(sd - 1.0) < 1e-5);
  }
  // The test set is mapped with the training statistics, not its own.
  CHECK(tt.test.x(3, 2) == doctest::Approx((raw_test - st.mean(2)) / st.sd(2)).epsilon(1e-6));
  CHECK(std::abs(tt.test.x.col(0).cast<double>().mean()) > 1e-4);

  // A constant feature keeps sd = 1: it is centred, not divided by zero.
  Dataset flat = d;
  flat.x.col(1).setConstant(2.5f);
  const Standardization sf = fit_standardization(flat);
  CHECK(sf.sd(1) == 1.0f);
  standardize(flat, sf);
  CHECK(flat.x.col(1).cwiseAbs().maxCoeff() == 0.0f);

  Dataset narrow = d;
  narrow.x = d.x.leftCols(3);
  CHECK(error_of([&] { standardize(narrow, st); }) == "iris: standardization has 4 features, data has 3");
}
