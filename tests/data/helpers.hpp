#pragma once
/// Test helpers for tests/data (and the campaign tests that need a dataset file): a scratch directory,
/// error capture, environment scopes, a small Fashion-MNIST data set as a user's HDF5 file.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "data/fashion_mnist.hpp"

namespace aimc::test {

/// A fresh directory under the system temp dir, removed on destruction. The process id keeps
/// concurrently running test processes (ctest -j) apart.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag)
      : path_(std::filesystem::temp_directory_path() /
              ("aimc-test-" + tag + "-" + std::to_string(static_cast<long long>(::getpid())))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

/// The message of the aimc::Error that f throws; "(no error)" if it returns normally. Any other
/// exception type propagates and fails the test.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const aimc::Error& e) {
    return e.what();
  }
  return "(no error)";
}

/// Sets an environment variable for one scope and restores the previous state afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      had_ = true;
      old_ = old;
    }
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

/// The first `train` training and `test` test images of Fashion-MNIST as a user's HDF5 data set
/// (`dir/fm_{split}.h5`, x (N, 1, 28, 28) float32 as PyTorch holds them, y (N,) int64); returns the path
/// with its {split} placeholder. (One channel: NCHW and aimc's channel-last rows are the same bytes.)
inline std::string small_dataset(const ScratchDir& dir, long long train = 1000, long long test = 200) {
  for (auto [split, n] : {std::pair{"train", train}, std::pair{"test", test}}) {
    const auto d = data::load_fashion_mnist(split, "").head(n);
    H5::H5File f = h5::create(dir.file(std::string("fm_") + split + ".h5"));
    const hsize_t dims[4] = {hsize_t(d.size()), 1, 28, 28};
    H5::DataSpace space(4, dims);
    f.createDataSet("x", H5::PredType::NATIVE_FLOAT, space).write(d.x.data(), H5::PredType::NATIVE_FLOAT);
    h5::write(f, "y", std::vector<std::int64_t>(d.y.data(), d.y.data() + d.y.size()));
  }
  return dir.file("fm_{split}.h5");
}

}  // namespace aimc::test
