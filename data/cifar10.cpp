#include "data/cifar10.hpp"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"

namespace aimc::data {

namespace {

namespace fs = std::filesystem;

constexpr int side = 32;
constexpr int channels = 3;
constexpr int plane = side * side;
constexpr int n_classes = 10;
/// Largest total read: 2^31 bytes is 40 times CIFAR-10's training set and keeps sizes in int range.
constexpr std::uintmax_t max_total_bytes = std::uintmax_t{1} << 31;

/// Size of a regular file, or an Error naming it.
std::uintmax_t file_size(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) fail_at(path, "", "file not found");
  if (!fs::is_regular_file(st)) fail_at(path, "", "not a regular file");
  const std::uintmax_t n = fs::file_size(path, ec);
  if (ec) fail_at(path, "", "cannot read its size: " + ec.message());
  return n;
}

}  // namespace

Dataset load_cifar10_batches(const std::vector<std::string>& files) {
  if (files.empty()) throw Error("cifar10: no batch files given");
  std::vector<std::uintmax_t> records;
  std::uintmax_t total = 0;
  for (const auto& f : files) {
    const std::uintmax_t n = file_size(f);
    if (n == 0 || n % cifar10_record_bytes != 0) {
      fail_at(f, "", std::to_string(n) + " bytes, expected a non-empty multiple of " +
                         std::to_string(cifar10_record_bytes) + " (CIFAR-10 records: 1 label + 3072 pixel bytes)" +
                         (n > cifar10_record_bytes ? ": truncated or not a CIFAR-10 batch" : ""));
    }
    if (n > max_total_bytes - total) {
      fail_at(f, "", "batches add up to more than " + std::to_string(max_total_bytes) + " bytes, the most aimc reads");
    }
    total += n;
    records.push_back(n / cifar10_record_bytes);
  }

  Dataset ds;
  ds.name = "cifar10";
  ds.shape = Shape{channels, side, side};
  ds.classes = n_classes;
  const auto n = static_cast<Eigen::Index>(total / cifar10_record_bytes);
  ds.x.resize(n, ds.shape.size());
  ds.y.resize(n);
  std::array<float, 256> scale{};  // x / 255 once per byte value: every pixel correctly rounded
  for (int v = 0; v < 256; ++v) scale[static_cast<std::size_t>(v)] = static_cast<float>(v) / 255.0f;

  std::array<std::uint8_t, cifar10_record_bytes> rec{};
  Eigen::Index row = 0;
  for (std::size_t k = 0; k < files.size(); ++k) {
    const std::string& f = files[k];
    std::ifstream in(f, std::ios::binary);
    if (!in) fail_at(f, "", std::string("cannot open: ") + std::strerror(errno));
    for (std::uintmax_t r = 0; r < records[k]; ++r, ++row) {
      in.read(reinterpret_cast<char*>(rec.data()), static_cast<std::streamsize>(rec.size()));
      if (in.gcount() != static_cast<std::streamsize>(rec.size())) {
        fail_at(f, "", "read error or file shrank at record " + std::to_string(r));
      }
      if (rec[0] >= n_classes) {
        fail_at(f, "", "label " + std::to_string(rec[0]) + " in record " + std::to_string(r) + ", expected 0..9");
      }
      ds.y(row) = rec[0];
      // Planes R, G, B, each row-major; aimc stores (h * 32 + w) * 3 + c.
      float* out = ds.x.row(row).data();
      for (int c = 0; c < channels; ++c) {
        const std::uint8_t* src = rec.data() + 1 + c * plane;
        for (int p = 0; p < plane; ++p) out[p * channels + c] = scale[src[p]];
      }
    }
  }
  return ds;
}

Dataset load_cifar10(const std::string& dir, const std::string& split) {
  std::vector<std::string> names;
  if (split == "train") {
    for (int i = 1; i <= 5; ++i) names.push_back("data_batch_" + std::to_string(i) + ".bin");
  } else if (split == "test") {
    names.push_back("test_batch.bin");
  } else {
    throw Error("cifar10: split '" + split + "': expected 'train' or 'test'");
  }
  std::string d = dir, origin = "given";
  if (d.empty()) {
    const char* env = std::getenv(std::string(cifar10_env).c_str());
    if (!env || !*env) {
      throw Error("cifar10: no directory given and " + std::string(cifar10_env) +
                  " is not set: point it at the extracted cifar-10-batches-bin directory (binary version)");
    }
    d = env;
    origin = "from " + std::string(cifar10_env);
  }
  std::error_code ec;
  if (!fs::is_directory(d, ec)) throw Error("cifar10: directory " + d + " (" + origin + ") does not exist");
  std::vector<std::string> files;
  for (const auto& name : names) {
    const fs::path p = fs::path(d) / name;
    if (!fs::is_regular_file(p, ec)) {
      throw Error("cifar10: " + p.string() + " not found (directory " + d + ", " + origin +
                  "; expected the binary version's data_batch_1..5.bin and test_batch.bin)");
    }
    files.push_back(p.string());
  }
  Dataset ds = load_cifar10_batches(files);
  ds.name = "cifar10/" + split;
  return ds;
}

}  // namespace aimc::data
