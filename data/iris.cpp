#include "data/iris.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "core/error.hpp"

namespace aimc::data {

namespace {

constexpr int n_rows = 150;
constexpr int n_features = 4;
constexpr int n_classes = 3;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    out.push_back(trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

/// The whole field as a number, or nothing.
std::optional<double> parse_number(std::string_view s) {
  double v = 0;
  if (s.empty()) return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

/// Species label from "0".."2" or a species name (optionally "Iris-" prefixed).
std::optional<int> parse_species(std::string_view s) {
  if (s.size() == 1 && s[0] >= '0' && s[0] < '0' + n_classes) return s[0] - '0';
  if (s.substr(0, 5) == "Iris-") s.remove_prefix(5);
  for (int c = 0; c < n_classes; ++c) {
    if (s == iris_class_names[static_cast<std::size_t>(c)]) return c;
  }
  return std::nullopt;
}

/// scikit-learn's header "<samples>,<features>,setosa,versicolor,virginica".
bool is_sklearn_header(const std::vector<std::string_view>& f) {
  if (f.size() != 2 + n_classes) return false;
  for (int c = 0; c < n_classes; ++c) {
    if (f[static_cast<std::size_t>(2 + c)] != iris_class_names[static_cast<std::size_t>(c)]) return false;
  }
  return true;
}

std::string line_key(long long line) { return "line " + std::to_string(line); }

}  // namespace

std::string iris_csv_path(const std::string& path) {
  if (!path.empty()) return path;
  const char* env = std::getenv(std::string(iris_env).c_str());
  if (env && *env) return env;
  return std::string(iris_debian_csv);
}

Dataset load_iris(const std::string& path_arg) {
  const std::string path = iris_csv_path(path_arg);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    const std::string origin = !path_arg.empty() ? "given"
                               : path == iris_debian_csv ? "Debian python3-sklearn default"
                                                         : "from " + std::string(iris_env);
    fail_at(path, "", "Iris CSV not found (" + origin +
                          "): run scripts/bootstrap.sh (or apt-get install python3-sklearn), or set " +
                          std::string(iris_env) + " to the file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_at(path, "", "cannot open for reading");

  std::vector<std::array<float, n_features>> rows;
  std::vector<int> labels;
  std::optional<long long> declared_rows;
  bool seen_first = false;
  std::string text;
  long long line_no = 0;
  while (std::getline(in, text)) {
    ++line_no;
    const std::string_view line = trim(text);
    if (line.empty()) continue;
    const std::vector<std::string_view> f = split_fields(line);
    const bool first = !seen_first;
    seen_first = true;
    if (first && !parse_number(f[0])) continue;  // a header of column names
    if (first && is_sklearn_header(f)) {
      const auto n = parse_number(f[0]);
      const auto d = parse_number(f[1]);
      if (!d || *d != n_features) {
        fail_at(path, line_key(line_no), "header declares '" + std::string(f[1]) + "' features, expected 4");
      }
      if (*n != std::floor(*n) || *n < 0) {
        fail_at(path, line_key(line_no), "header declares '" + std::string(f[0]) + "' samples, expected a count");
      }
      declared_rows = static_cast<long long>(*n);
      continue;
    }
    if (f.size() != n_features + 1) {
      fail_at(path, line_key(line_no),
              "expected 5 comma-separated fields (4 measurements in cm, species), got " + std::to_string(f.size()));
    }
    std::array<float, n_features> row{};
    for (int j = 0; j < n_features; ++j) {
      const std::string_view field = f[static_cast<std::size_t>(j)];
      const auto v = parse_number(field);
      if (!v || !std::isfinite(*v)) {
        fail_at(path, line_key(line_no), "field " + std::to_string(j + 1) + " (" +
                                             std::string(iris_feature_names[static_cast<std::size_t>(j)]) + ") '" +
                                             std::string(field) + "' is not a number");
      }
      if (*v <= 0.0) {
        fail_at(path, line_key(line_no), "field " + std::to_string(j + 1) + " (" +
                                             std::string(iris_feature_names[static_cast<std::size_t>(j)]) + ") = " +
                                             std::string(field) + ", expected a positive length in cm");
      }
      row[static_cast<std::size_t>(j)] = static_cast<float>(*v);
    }
    const auto species = parse_species(f[n_features]);
    if (!species) {
      fail_at(path, line_key(line_no), "species '" + std::string(f[n_features]) +
                                           "', expected 0, 1, 2, setosa, versicolor or virginica");
    }
    rows.push_back(row);
    labels.push_back(*species);
  }
  if (in.bad()) fail_at(path, "", "read error");

  const auto n = static_cast<long long>(rows.size());
  if (declared_rows && *declared_rows != n) {
    fail_at(path, "", "header declares " + std::to_string(*declared_rows) + " samples, file has " + std::to_string(n));
  }
  if (n != n_rows) fail_at(path, "", std::to_string(n) + " samples, expected Iris's 150");
  std::array<int, n_classes> count{};
  for (int c : labels) ++count[static_cast<std::size_t>(c)];
  for (int c = 0; c < n_classes; ++c) {
    if (count[static_cast<std::size_t>(c)] != n_rows / n_classes) {
      fail_at(path, "", std::to_string(count[static_cast<std::size_t>(c)]) + " samples of " +
                            std::string(iris_class_names[static_cast<std::size_t>(c)]) + ", expected 50");
    }
  }

  Dataset ds;
  ds.name = "iris";
  ds.shape = Shape{n_features, 1, 1};
  ds.classes = n_classes;
  ds.x.resize(n, n_features);
  ds.y.resize(n);
  for (long long i = 0; i < n; ++i) {
    for (int j = 0; j < n_features; ++j) ds.x(i, j) = rows[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)];
    ds.y(i) = labels[static_cast<std::size_t>(i)];
  }
  return ds;
}

}  // namespace aimc::data
