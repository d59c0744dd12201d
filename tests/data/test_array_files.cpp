// Users' data files: NumPy .npz, HDF5 and CIFAR-10 batches, and the load_dataset entry point. The
// files are written by tests/data/make_array_files.py with numpy and h5py, which also write the
// expected aimc layout (numpy's transpose to channel-last), so the oracle is independent of the reader.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "data/array_file.hpp"
#include "data/cifar10.hpp"
#include "data/load.hpp"
#include "tests/data/helpers.hpp"

using namespace aimc;
using namespace aimc::data;
using aimc::test::error_of;
using aimc::test::read_bytes;
using aimc::test::ScopedEnv;
using aimc::test::ScratchDir;

namespace {

namespace fs = std::filesystem;

/// The scratch directory with make_array_files.py's output, written once per test process.
const ScratchDir& files() {
  static ScratchDir dir("array-files");
  static const int rc = [] {
    const std::string cmd = "/usr/bin/python3 '" AIMC_SOURCE_DIR "/tests/data/make_array_files.py' '" + dir.str() + "'";
    return std::system(cmd.c_str());
  }();
  REQUIRE_MESSAGE(rc == 0, "tests/data/make_array_files.py failed: it needs /usr/bin/python3 with python3-numpy and "
                           "python3-h5py (scripts/bootstrap.sh)");
  return dir;
}

std::string file(const std::string& name) { return files().file(name); }

template <class T>
std::vector<T> read_raw(const std::string& path) {
  const std::vector<std::uint8_t> b = read_bytes(path);
  REQUIRE(b.size() % sizeof(T) == 0);
  std::vector<T> v(b.size() / sizeof(T));
  std::memcpy(v.data(), b.data(), b.size());
  return v;
}

/// ds holds exactly the expected rows STEM.x.f32 and labels STEM.y.i32 written by numpy.
void check_expected(const Dataset& ds, const std::string& stem, Shape shape, int classes) {
  CAPTURE(stem);
  const auto x = read_raw<float>(file(stem + ".x.f32"));
  const auto y = read_raw<std::int32_t>(file(stem + ".y.i32"));
  REQUIRE(ds.shape == shape);
  REQUIRE(ds.size() == static_cast<long long>(y.size()));
  REQUIRE(ds.x.cols() == shape.size());
  REQUIRE(static_cast<std::size_t>(ds.x.size()) == x.size());
  std::size_t x_diff = 0, y_diff = 0;
  for (std::size_t i = 0; i < x.size(); ++i) x_diff += ds.x.data()[i] != x[i];
  for (std::size_t i = 0; i < y.size(); ++i) y_diff += ds.y(static_cast<Eigen::Index>(i)) != y[i];
  CHECK(x_diff == 0);
  CHECK(y_diff == 0);
  CHECK(ds.classes == classes);
}

struct BadCase {
  std::string file;
  std::string problem;  ///< must appear in the message, after "<path>: "
};

/// The error of loading each file names the file and the problem, on one line.
void check_errors(const std::vector<BadCase>& cases) {
  for (const auto& c : cases) {
    const std::string path = file(c.file);
    const std::string msg = error_of([&] { (void)load_array_file(path); });
    CAPTURE(msg);
    CHECK(msg.rfind(path + ": ", 0) == 0);
    CHECK(msg.find(c.problem) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }
}

}  // namespace

TEST_CASE("array files: np.savez and np.savez_compressed (N, C, H, W) arrays land channel-last") {
  // nchw: savez, x float32, y int64; nchw_compressed: deflated, y int32; versions: .npy 2.0 and 3.0.
  for (const std::string stem : {"nchw", "nchw_compressed", "versions"}) {
    const Dataset ds = load_array_file(file(stem + ".npz"));
    check_expected(ds, stem, Shape{3, 4, 6}, 7);
    CHECK(ds.name == file(stem + ".npz"));
  }
}

TEST_CASE("array files: (N, features) arrays, float64 rounded to float32, every integer label dtype") {
  check_expected(load_array_file(file("flat.npz")), "flat", Shape{10, 1, 1}, 4);
  check_expected(load_array_file(file("flat_compressed.npz")), "flat_compressed", Shape{10, 1, 1}, 4);
  for (const std::string dt : {"i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8"}) {
    check_expected(load_array_file(file("ydtype_" + dt + ".npz")), "ydtype_" + dt, Shape{10, 1, 1}, 4);
  }
  // The largest label accepted gives 65536 classes.
  check_expected(load_array_file(file("maxlabel.npz")), "maxlabel", Shape{1, 1, 1}, 65536);
}

TEST_CASE("array files: an npz larger than the 8 MiB read chunk") {
  check_expected(load_array_file(file("big.npz")), "big", Shape{2, 520, 1024}, 2);
}

TEST_CASE("array files: HDF5 chunked gzip, big-endian float64, chunked and contiguous in several blocks") {
  check_expected(load_array_file(file("nchw.h5")), "nchw_h5", Shape{3, 4, 6}, 7);
  check_expected(load_array_file(file("flat.hdf5")), "flat_h5", Shape{10, 1, 1}, 4);
  // One sample is 1064960 values (> 2^20): blocks run over channels, then the next sample.
  check_expected(load_array_file(file("big.h5")), "big_h5", Shape{2, 520, 1024}, 2);
  // 110000 samples of 10 features: blocks run over samples.
  check_expected(load_array_file(file("long.h5")), "long", Shape{10, 1, 1}, 3);
}

TEST_CASE("array files: malformed npz files are one-line errors naming the file, the array and the problem") {
  check_errors({
      {"truncated.npz", "truncated or corrupt zip archive"},
      {"truncated_tail.npz", "truncated or corrupt zip archive"},
      {"notzip.npz", "not a zip archive"},
      {"short_member.npz", "x: x.npy holds"},
      {"long_member.npz", "x: x.npy holds"},
      {"missing_y.npz", "y: missing array (no y.npy in the archive; it holds: x.npy)"},
      {"wrong_dtype_x.npz", "x: dtype '<i4', expected float32 '<f4' or float64 '<f8'"},
      {"wrong_dtype_y.npz", "y: dtype '<f4', expected an integer dtype"},
      {"bigendian.npz", "x: dtype '>f4' is big-endian"},
      {"fortran.npz", "x: fortran_order is True"},
      {"structured.npz", "x: structured dtype"},
      {"object_y.npz", "y: dtype '|O'"},
      {"rank3.npz", "x: shape (5, 4, 6) has rank 3"},
      {"y2d.npz", "y: shape (5, 1) has rank 2, expected (N,)"},
      {"zero_n.npz", "x: shape (0, 3) has a zero dimension"},
      {"label_range.npz", "y: label 65536 at [3], expected 0..65535"},
      {"label_negative.npz", "y: label -1 at [3], expected 0..65535"},
      {"n_mismatch.npz", "y: 4 labels for 5 samples in x"},
      {"nan.npz", "x: value at [2, 1, 3, 0] is nan, expected finite values"},
      {"inf.npz", "x: value at [4, 7] is -inf, expected finite values"},
      {"f8_overflow.npz", "x: value at [4, 7] is 1e+300, beyond the float32 range"},
      {"version4.npz", "x: x.npy: .npy format version 4.0, expected 1.0, 2.0 or 3.0"},
      {"corrupt_deflate.npz", "x: corrupt deflate stream in x.npy"},
      {"crc.npz", "x: CRC mismatch in x.npy"},
  });
}

TEST_CASE("array files: malformed HDF5 files are one-line errors naming the file, the dataset and the problem") {
  check_errors({
      {"h5_missing_y.h5", "y: missing dataset 'y'"},
      {"h5_int_x.h5", "x: HDF5 type integer (4 bytes), expected float32 or float64"},
      {"h5_float_y.h5", "y: HDF5 type float (8 bytes), expected integer class labels"},
      {"h5_mismatch.h5", "y: 3 labels for 5 samples in x"},
      {"h5_nan.h5", "x: value at [4, 2, 0, 5] is nan"},
      {"h5_label.h5", "y: label 70000 at [1], expected 0..65535"},
      {"h5_group_x.h5", "x: is not a dataset"},
      {"h5_unwritten.h5", "x: storage not (fully) written"},
      {"h5_never_written.h5", "x: storage not (fully) written"},
      {"h5_rank3.h5", "x: shape (5, 4, 6) has rank 3"},
      {"h5_scalar_y.h5", "y: scalar or empty dataspace"},
      {"nothdf5.h5", "cannot open as an HDF5 file"},
  });
}

TEST_CASE("array files: missing file, directory and unknown extension") {
  const std::string missing = file("absent.npz");
  CHECK(error_of([&] { (void)load_array_file(missing); }) == missing + ": file not found");
  fs::create_directories(file("dir.h5"));
  CHECK(error_of([&] { (void)load_array_file(file("dir.h5")); }) == file("dir.h5") + ": is a directory, expected a file");
  const std::string csv = file("x.csv");
  CHECK(error_of([&] { (void)load_array_file(csv); }) ==
        csv + ": unknown extension '.csv', expected .npz, .h5 or .hdf5");
}

TEST_CASE("cifar10: records land channel-last with pixels / 255, train is batches 1..5 in order") {
  const std::string dir = file("cifar");
  const Dataset train = load_cifar10(dir, "train");
  check_expected(train, "cifar_train", Shape{3, 32, 32}, 10);
  CHECK(train.name == "cifar10/train");
  const Dataset test = load_cifar10(dir, "test");
  check_expected(test, "cifar_test", Shape{3, 32, 32}, 10);
  CHECK(test.name == "cifar10/test");
  // And straight from the bytes of the first record: label, then the R, G and B planes, row-major.
  const std::vector<std::uint8_t> raw = read_bytes(dir + "/test_batch.bin");
  REQUIRE(raw.size() == 2 * cifar10_record_bytes);
  CHECK(test.y(0) == raw[0]);
  std::size_t diff = 0;
  for (int c = 0; c < 3; ++c)
    for (int h = 0; h < 32; ++h)
      for (int w = 0; w < 32; ++w)
        diff += test.x(0, (h * 32 + w) * 3 + c) != float(raw[1 + c * 1024 + h * 32 + w]) / 255.0f;
  CHECK(diff == 0);
  // The environment variable stands in for the directory.
  ScopedEnv env(std::string(cifar10_env).c_str(), dir);
  CHECK(load_cifar10("", "test").x == test.x);
}

TEST_CASE("cifar10: malformed batches and missing paths are one-line errors naming them") {
  const std::string bad_label = file("cifar_bad_label.bin");
  CHECK(error_of([&] { (void)load_cifar10_batches({bad_label}); }) ==
        bad_label + ": label 10 in record 1, expected 0..9");
  const std::string truncated = file("cifar_truncated.bin");
  CHECK(error_of([&] { (void)load_cifar10_batches({truncated}); }) ==
        truncated + ": 6141 bytes, expected a non-empty multiple of 3073 (CIFAR-10 records: 1 label + 3072 pixel "
                    "bytes): truncated or not a CIFAR-10 batch");
  const std::string empty = file("cifar_empty.bin");
  CHECK(error_of([&] { (void)load_cifar10_batches({empty}); }).rfind(empty + ": 0 bytes, expected", 0) == 0);
  const std::string absent = file("cifar/nope.bin");
  CHECK(error_of([&] { (void)load_cifar10_batches({file("cifar/test_batch.bin"), absent}); }) ==
        absent + ": file not found");

  ScratchDir partial("cifar-partial");
  fs::copy_file(file("cifar/data_batch_1.bin"), partial.file("data_batch_1.bin"));
  const std::string msg = error_of([&] { (void)load_cifar10(partial.str(), "train"); });
  CHECK(msg.find("cifar10: " + partial.file("data_batch_2.bin") + " not found") == 0);
  CHECK(error_of([&] { (void)load_cifar10(partial.file("none"), "test"); }).find(partial.file("none") + " (given) does not exist") !=
        std::string::npos);
  CHECK(error_of([&] { (void)load_cifar10(partial.str(), "valid"); }) ==
        "cifar10: split 'valid': expected 'train' or 'test'");
  ::unsetenv(std::string(cifar10_env).c_str());
  CHECK(error_of([&] { (void)load_cifar10("", "test"); }).find(std::string(cifar10_env) + " is not set") !=
        std::string::npos);
}

TEST_CASE("load_dataset: built-in names, {split} paths and extensions") {
  // Names.
  const Dataset c = load_dataset("cifar10", "test", file("cifar"));
  check_expected(c, "cifar_test", Shape{3, 32, 32}, 10);
  const Dataset f = load_dataset("fashion-mnist", "test", "");
  CHECK(f.name == "fashion-mnist/test");
  CHECK(f.size() == 10000);
  // "{split}" in a path names one file per split.
  ScratchDir d("load-dataset");
  fs::copy_file(file("nchw.npz"), d.file("set_train.npz"));
  fs::copy_file(file("flat.npz"), d.file("set_test.npz"));
  check_expected(load_dataset(d.file("set_{split}.npz"), "train", "ignored"), "nchw", Shape{3, 4, 6}, 7);
  check_expected(load_dataset(d.file("set_{split}.npz"), "test", ""), "flat", Shape{10, 1, 1}, 4);
  // Extensions, case-insensitive.
  fs::copy_file(file("flat.hdf5"), d.file("FLAT.HDF5"));
  check_expected(load_dataset(d.file("FLAT.HDF5"), "test", ""), "flat_h5", Shape{10, 1, 1}, 4);
  check_expected(load_dataset(file("nchw.h5"), "test", ""), "nchw_h5", Shape{3, 4, 6}, 7);
  const Dataset bin = load_dataset(file("cifar/test_batch.bin"), "train", "");
  check_expected(bin, "cifar_test", Shape{3, 32, 32}, 10);
  CHECK(bin.name == file("cifar/test_batch.bin"));
  CHECK(error_of([&] { (void)load_dataset("mnist.csv", "test", ""); }) ==
        "data set 'mnist.csv': not a known name and the extension '.csv' is not one aimc reads; expected "
        "fashion-mnist, cifar10, or a file ending .npz, .h5, .hdf5 or .bin");
  CHECK(error_of([&] { (void)load_dataset("cifar", "test", ""); }).find("extension ''") != std::string::npos);
}
