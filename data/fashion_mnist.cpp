#include "data/fashion_mnist.hpp"

#include <array>
#include <cstdlib>
#include <filesystem>

#include "core/error.hpp"
#include "data/idx.hpp"

namespace aimc::data {

namespace {

namespace fs = std::filesystem;

constexpr int side = 28;
constexpr int n_classes = 10;

/// Where the directory came from, for error messages.
std::string dir_origin(const std::string& dir) {
  if (!dir.empty()) return "given";
  const char* env = std::getenv(std::string(fashion_mnist_env).c_str());
  if (env && *env) return "from " + std::string(fashion_mnist_env);
  return "Debian dataset-fashion-mnist default";
}

/// <dir>/<name>.gz, else <dir>/<name>; throws with install advice when neither exists.
std::string find_file(const std::string& dir, const std::string& origin, const std::string& name) {
  const std::string hint = ": run scripts/bootstrap.sh (or apt-get install dataset-fashion-mnist), or set " +
                           std::string(fashion_mnist_env) + " to a directory holding the IDX files";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error("fashion-mnist: directory " + dir + " (" + origin + ") does not exist" + hint);
  }
  const fs::path gz = fs::path(dir) / (name + ".gz");
  const fs::path plain = fs::path(dir) / name;
  if (fs::is_regular_file(gz, ec)) return gz.string();
  if (fs::is_regular_file(plain, ec)) return plain.string();
  throw Error("fashion-mnist: " + gz.string() + " not found (nor " + name + ") in directory " + dir + " (" + origin +
              ")" + hint);
}

}  // namespace

std::string fashion_mnist_dir(const std::string& dir) {
  if (!dir.empty()) return dir;
  const char* env = std::getenv(std::string(fashion_mnist_env).c_str());
  if (env && *env) return env;
  return std::string(fashion_mnist_debian_dir);
}

Dataset load_fashion_mnist(const std::string& split, const std::string& dir, std::size_t max_items) {
  std::string prefix;
  if (split == "train") {
    prefix = "train";
  } else if (split == "test") {
    prefix = "t10k";
  } else {
    throw Error("fashion-mnist: split '" + split + "': expected 'train' or 'test'");
  }
  const std::string d = fashion_mnist_dir(dir);
  const std::string origin = dir_origin(dir);
  const std::string images_path = find_file(d, origin, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_file(d, origin, prefix + "-labels-idx1-ubyte");

  IdxImages images = read_idx_images(images_path, max_items);
  if (images.rows != side || images.cols != side) {
    fail_at(images_path, "", "images are " + std::to_string(images.rows) + "x" + std::to_string(images.cols) +
                                 ", expected 28x28");
  }
  const IdxArray label_file = read_idx(labels_path, 1, max_items);
  const std::vector<std::uint8_t>& labels = label_file.data;
  if (label_file.dims[0] != images.count) {
    fail_at(labels_path, "", std::to_string(label_file.dims[0]) + " labels for " + std::to_string(images.count) +
                                 " images in " + images_path);
  }

  const auto n = static_cast<Eigen::Index>(labels.size());
  Dataset ds;
  ds.name = "fashion-mnist/" + split;
  ds.shape = Shape{1, side, side};
  ds.classes = n_classes;
  ds.y.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const int label = labels[static_cast<std::size_t>(i)];
    if (label >= n_classes) {
      fail_at(labels_path, "", "label " + std::to_string(label) + " at item " + std::to_string(i) +
                                   ", expected 0..9");
    }
    ds.y(i) = label;
  }
  // x / 255 computed once per byte value, so every pixel gets the correctly rounded quotient.
  std::array<float, 256> scale{};
  for (int v = 0; v < 256; ++v) scale[static_cast<std::size_t>(v)] = static_cast<float>(v) / 255.0f;
  ds.x.resize(n, ds.shape.size());
  float* out = ds.x.data();
  for (std::size_t k = 0; k < images.pixels.size(); ++k) out[k] = scale[images.pixels[k]];
  return ds;
}

}  // namespace aimc::data
