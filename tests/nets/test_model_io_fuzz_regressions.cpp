// Regressions for what tests/fuzz found in model files (nets::load_model) and the core/hdf5io read
// helpers under it: each input used to crash, escape as another exception type or load silently.
#include <doctest/doctest.h>
#include <hdf5.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>

#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "experiments/run_info.hpp"
#include "nets/model_io.hpp"
#include "nets/network.hpp"

using namespace aimc;
using namespace aimc::nets;

namespace {

std::string tmp(const std::string& name) { return (std::filesystem::temp_directory_path() / name).string(); }

/// A saved flatten + dense model at `path` (input 1x2x2, 3 outputs).
void save_small(const std::string& path) {
  Network n(Shape{1, 2, 2});
  n.add(make_layer({"flatten", {{"c", 1}, {"h", 2}, {"w", 2}}}));
  n.add(make_layer({"dense", {{"in", 4}, {"out", 3}}}));
  Stream s(3, "init");
  n.init(s);
  save_model(path, n, {"small", "synthetic", 1, 1, 0.5, 0.0, "2026-01-01T00:00:00Z", {}});
}

/// Replaces attribute `name` of object `obj` (path in the file) by an int64 array of `n` values.
void int_array_attr(const std::string& path, const std::string& obj, const std::string& name, hsize_t n) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  const hid_t o = H5Oopen(f, obj.c_str(), H5P_DEFAULT);
  H5Adelete(o, name.c_str());
  const hid_t s = H5Screate_simple(1, &n, nullptr);
  const hid_t a = H5Acreate2(o, name.c_str(), H5T_NATIVE_INT64, s, H5P_DEFAULT, H5P_DEFAULT);
  std::vector<std::int64_t> v(n, 1);
  H5Awrite(a, H5T_NATIVE_INT64, v.data());
  H5Aclose(a);
  H5Sclose(s);
  H5Oclose(o);
  H5Fclose(f);
}

void set_int(const std::string& path, const std::string& group, const std::string& name, std::int64_t v) {
  auto f = h5::open_rw(path);
  auto g = h5::open_group(f, group, path);
  h5::set_attr(g, name, v);
}

}  // namespace

TEST_CASE("model file fuzz regression: an integer attribute holding several values is an Error, not an overflow") {
  // attr_int read every element of the attribute into one int64 (ASan: stack-buffer-overflow).
  const auto path = tmp("aimc_fuzz_reg_array_attr.h5");
  save_small(path);
  int_array_attr(path, "/", "format_version", 3);
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("attribute 'format_version' holds 3 values, expected a single value"),
                       Error);
  save_small(path);
  int_array_attr(path, "/layers/0001/args", "out", 17);
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("attribute 'out' holds 17 values"), Error);
  std::filesystem::remove(path);
}

TEST_CASE("model file fuzz regression: input sizes beyond int are rejected, not truncated") {
  // input_c = 2^32 + 8 used to load as an input of 8 channels.
  const auto path = tmp("aimc_fuzz_reg_input.h5");
  save_small(path);
  set_int(path, "/", "input_c", (std::int64_t{1} << 32) + 8);
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("attribute 'input_c' = 4294967304, expected 1..1048576"), Error);
  save_small(path);
  set_int(path, "/", "input_h", 0);
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("attribute 'input_h' = 0"), Error);
  save_small(path);
  set_int(path, "/", "epochs", -5);
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("attribute 'epochs' = -5"), Error);
  std::filesystem::remove(path);
}

TEST_CASE("model file fuzz regression: a layer count that disagrees with the layer groups is an Error") {
  // count = 1 used to load only the flatten layer (a network with 4 outputs, silently);
  // count = 0 an empty network.
  const auto path = tmp("aimc_fuzz_reg_count.h5");
  for (std::int64_t count : {std::int64_t{0}, std::int64_t{1}, std::int64_t{3}, std::int64_t{-1},
                             std::numeric_limits<std::int64_t>::max()}) {
    CAPTURE(count);
    save_small(path);
    set_int(path, "/layers", "count", count);
    CHECK_THROWS_AS(load_model(path), Error);
  }
  save_small(path);
  CHECK(load_model(path).net.size() == 2);
  std::filesystem::remove(path);
}

TEST_CASE("model file fuzz regression: NaN or infinite weights are rejected") {
  const auto path = tmp("aimc_fuzz_reg_nan.h5");
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    save_small(path);
    {
      auto f = h5::open_rw(path);
      auto g = h5::open_group(f, "parameters", path);  // tensor 0: the dense layer's weight
      Matrix w = h5::read_matrix(g, "0000", path);
      w(2, 1) = bad;
      h5::write(g, "0000", w);
    }
    CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("layer 1 (dense): parameter 'weight' holds NaN or infinite values"),
                         Error);
  }
  std::filesystem::remove(path);
}

TEST_CASE("model file fuzz regression: a dataset declaring 2^40 elements is an Error before any allocation") {
  // read_raw sized its buffer from the file's extent: std::bad_alloc (or an ASan allocation-size-too-big
  // abort) for a dataset declared in unallocated chunks.
  const auto path = tmp("aimc_fuzz_reg_huge.h5");
  save_small(path);
  {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "/parameters/0001", H5P_DEFAULT);
    const hsize_t dims[2] = {hsize_t{1} << 20, hsize_t{1} << 20}, chunk[2] = {1, 1};
    const hid_t s = H5Screate_simple(2, dims, nullptr);
    const hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(p, 2, chunk);
    const hid_t d = H5Dcreate2(f, "/parameters/0001", H5T_NATIVE_FLOAT, s, H5P_DEFAULT, p, H5P_DEFAULT);
    H5Dclose(d);
    H5Pclose(p);
    H5Sclose(s);
    H5Fclose(f);
  }
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("parameter 'bias' has shape 1048576x1048576, expected 1x3"), Error);
  auto f = h5::open_read(path);
  auto g = h5::open_group(f, "parameters", path);
  CHECK_THROWS_WITH_AS(h5::read_matrix(g, "0001", path), doctest::Contains("declares shape 1048576x1048576, more than the 1024 MiB"),
                       Error);
  CHECK_THROWS_WITH_AS(h5::read_doubles(g, "0001", path), doctest::Contains("more than the 1024 MiB"), Error);
  std::filesystem::remove(path);
}

TEST_CASE("model file fuzz regression: a 2-D string dataset is an Error, not a stack overflow") {
  // read_strings asked for the extent of a 1-D dataspace and got two dimensions written into one hsize_t.
  const auto path = tmp("aimc_fuzz_reg_strings.h5");
  {
    auto f = h5::create(path);
    h5::write(f, "numbers", MatrixD(MatrixD::Ones(2, 3)));
    const hsize_t dims[2] = {2, 2};
    const hid_t s = H5Screate_simple(2, dims, nullptr);
    const hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    const hid_t d = H5Dcreate2(f.getId(), "strings2d", t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Tclose(t);
    H5Sclose(s);
  }
  auto f = h5::open_read(path);
  CHECK_THROWS_WITH_AS(h5::read_strings(f, "strings2d", path), doctest::Contains("has 2 dimensions, expected a 1-D list"), Error);
  CHECK_THROWS_WITH_AS(h5::read_strings(f, "numbers", path), doctest::Contains("has 2 dimensions"), Error);
  CHECK_THROWS_WITH_AS(h5::read_doubles(f, "strings2d", path), doctest::Contains("does not hold numbers"), Error);
  std::filesystem::remove(path);
}

#ifndef __SANITIZE_ADDRESS__  // a 2^62-byte request aborts under ASan unless allocator_may_return_null=1 (tests/fuzz sets it)
TEST_CASE("model file fuzz regression: layer arguments asking for terabytes are an Error, not std::bad_alloc") {
  const auto path = tmp("aimc_fuzz_reg_terabytes.h5");
  save_small(path);
  set_int(path, "/layers/0001/args", "in", std::int64_t{1} << 30);
  set_int(path, "/layers/0001/args", "out", std::int64_t{1} << 30);
  CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains("layer 1 (dense): its arguments describe a layer too large to allocate"),
                       Error);
  std::filesystem::remove(path);
}
#endif

// experiments/run_info.cpp reads the same helpers; its one fuzz regression lives here with theirs.
TEST_CASE("results file fuzz regression: --resume rejects resumed = INT_MAX instead of overflowing") {
  const auto path = tmp("aimc_fuzz_reg_resumed.h5");
  experiments::RunInfo info;
  info.format = "aimc-mc";
  info.config_path = "c.toml";
  info.config_text = "[mc]\n";
  {
    auto f = h5::create(path);
    H5::Group root = f.openGroup("/");
    experiments::write_run_info(root, info);
    h5::set_attr(root, "resumed", std::int64_t{std::numeric_limits<int>::max()});
  }
  auto f = h5::open_read(path);
  H5::Group root = f.openGroup("/");
  CHECK_THROWS_WITH_AS(experiments::resume_run(root, path, "aimc Monte Carlo", info),
                       doctest::Contains("attribute 'resumed' = 2147483647, expected 0..2147483646"), Error);
  std::filesystem::remove(path);
}
