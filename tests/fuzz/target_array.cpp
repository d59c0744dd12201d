// Users' array files (data/array_file.hpp, data/cifar10.hpp): .npz archives built here with nasty
// .npy headers, stored or deflated, then byte-mutated; and a small HDF5 file mutated through the HDF5
// API. Every input is also read as an .h5 and as a CIFAR-10 .bin file.
#include <H5Cpp.h>
#include <zip.h>

#include <cstdio>

#include "core/error.hpp"
#include "data/array_file.hpp"
#include "data/load.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace aimc::fuzz {
namespace {

fs::path g_h5_seed;

/// A .npy file (numpy/lib/format.py): magic, version, little-endian header length, dict padded with
/// spaces to a multiple of 64 and ended by '\n', data.
Bytes npy(int major, const std::string& dict, const Bytes& data) {
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  std::string header = dict;
  while ((8 + len_bytes + header.size() + 1) % 64) header += ' ';
  header += '\n';
  Bytes b = "\x93NUMPY";
  b += char(major);
  b += '\0';
  for (std::size_t i = 0; i < len_bytes; ++i) b += char((header.size() >> (8 * i)) & 0xff);
  return b + header + data;
}

std::string tuple(const std::vector<std::uint64_t>& shape) {
  std::string s = "(";
  for (auto d : shape) s += std::to_string(d) + ", ";
  if (shape.size() > 1) s.resize(s.size() - 2);
  return s + ")";
}

/// One array member: usually well-formed for its dtype and shape, sometimes not.
Bytes make_member(Rng& rng, bool is_x, std::uint64_t n) {
  static const std::vector<std::string> x_good = {"<f4", "<f8"}, x_bad = {">f4", "<f2", "<i4", "|u1", "|O"};
  static const std::vector<std::string> y_good = {"<i8", "<i4", "|u1", "<u8", "<i2", "|i1", "<u2", "<u4"},
                                        y_bad = {">i8", "<f4", "|b1", "<i3"};
  const bool good = rng.chance(0.85);
  const std::string descr = rng.pick(is_x ? (good ? x_good : x_bad) : (good ? y_good : y_bad));
  const int item = descr.back() == 'O' ? 8 : descr[2] - '0';
  std::vector<std::uint64_t> shape = {n};
  if (is_x) {
    const std::size_t rank = rng.chance(0.9) ? (rng.chance(0.5) ? 2 : 4) : rng.below(6);
    shape.resize(std::max<std::size_t>(rank, 1), 1);
    for (std::size_t k = 1; k < shape.size(); ++k) shape[k] = 1 + rng.below(4);
  } else if (rng.chance(0.1)) {
    shape.push_back(1 + rng.below(2));
  }
  if (rng.chance(0.15)) shape[rng.below(shape.size())] = std::uint64_t(rng.pick(nasty_ints()));
  std::uint64_t count = 1;
  for (auto d : shape) count = d && count > (1u << 16) / d ? (1u << 16) + 1 : count * d;
  std::size_t bytes = std::size_t(std::min<std::uint64_t>(count, 1u << 16)) * std::size_t(item);
  if (rng.chance(0.1)) bytes = rng.below(bytes + 16);
  Bytes data(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) data[i] = char(rng.below(256));
  if (!is_x && rng.chance(0.7)) {  // small labels, mostly in range
    for (std::size_t i = 0; i + std::size_t(item) <= bytes; i += std::size_t(item)) {
      for (int k = 0; k < item; ++k) data[i + std::size_t(k)] = k ? '\0' : char(rng.below(12));
    }
  }
  if (is_x && descr == "<f4" && rng.chance(0.7)) {  // mostly finite floats: 1.0f, with a rare NaN
    for (std::size_t i = 0; i + 4 <= bytes; i += 4) data.replace(i, 4, rng.chance(0.01) ? "\x00\x00\xc0\x7f" : "\x00\x00\x80\x3f", 4);
  }
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (rng.chance(0.05) ? "True" : "False") +
                     ", 'shape': " + tuple(shape) + ", }";
  switch (rng.below(30)) {  // header damage
    case 0: dict = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': " + tuple(shape) + ", }"; break;
    case 1: dict.erase(dict.find("'fortran_order'"), 26); break;
    case 2: dict += " 'shape': (1,)}"; break;
    case 3: dict.insert(1, "'descr': '<f4', "); break;
    case 4: dict.resize(rng.below(dict.size() + 1)); break;
    default: break;
  }
  const int major = rng.chance(0.7) ? 1 : int(rng.pick(std::vector<int>{2, 3, 2, 3, 0, 4, 255}));
  Bytes b = npy(major, dict, data);
  if (rng.chance(0.05)) b[8] = char(0xff), b[9] = char(0xff);  // header length beyond the member
  return b;
}

/// Writes an .npz built with libzip (stored or deflated members) to `out`.
void write_npz(Rng& rng, const fs::path& out) {
  const std::uint64_t n = rng.chance(0.9) ? 1 + rng.below(6) : std::uint64_t(rng.pick(nasty_ints()));
  std::vector<std::pair<std::string, Bytes>> members;
  if (rng.chance(0.95)) members.push_back({"x.npy", make_member(rng, true, n)});
  if (rng.chance(0.95)) members.push_back({"y.npy", make_member(rng, false, rng.chance(0.95) ? n : n + 1)});
  if (rng.chance(0.1)) members.push_back({"z.npy", Bytes("junk")});
  if (members.size() > 1 && rng.chance(0.5)) std::swap(members.front(), members.back());
  int err = 0;
  zip_t* z = zip_open(out.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!z) throw std::runtime_error("fuzz: zip_open failed for " + out.string());
  for (const auto& [name, bytes] : members) {
    zip_source_t* src = zip_source_buffer(z, bytes.data(), bytes.size(), 0);
    const zip_int64_t i = src ? zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE) : -1;
    if (i < 0) throw std::runtime_error("fuzz: zip_file_add failed");
    zip_set_file_compression(z, zip_uint64_t(i), rng.chance(0.5) ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  if (zip_close(z) != 0) throw std::runtime_error("fuzz: zip_close failed");  // members are copied here
  if (members.empty()) write_file(out, Bytes("PK\x05\x06", 4) + Bytes(18, '\0'));  // libzip writes no empty archive
  if (rng.chance(0.25)) {
    Bytes b = read_file(out);
    mutate_bytes(rng, b, {"PK\x03\x04", "PK\x01\x02", "PK\x05\x06", "\x93NUMPY", std::string(8, '\xff')}, 3);
    write_file(out, b);
  }
}

void setup_array(const Env& env) {
  if (!g_h5_seed.empty()) return;
  const fs::path d = env.work / "array";
  fs::create_directories(d);
  g_h5_seed = d / "seed.h5";
  H5::H5File f(g_h5_seed.string(), H5F_ACC_TRUNC);
  const hsize_t xd[4] = {3, 2, 4, 4}, yd[1] = {3};
  std::vector<float> x(3 * 2 * 4 * 4, 0.5f);
  const std::int64_t y[3] = {0, 2, 1};
  f.createDataSet("x", H5::PredType::NATIVE_FLOAT, H5::DataSpace(4, xd)).write(x.data(), H5::PredType::NATIVE_FLOAT);
  f.createDataSet("y", H5::PredType::NATIVE_INT64, H5::DataSpace(1, yd)).write(y, H5::PredType::NATIVE_INT64);
}

void generate_array(Rng& rng, const fs::path& dir) {
  const fs::path out = dir / "input.npz";
  if (rng.chance(0.8)) return write_npz(rng, out);
  fs::copy_file(g_h5_seed, out, fs::copy_options::overwrite_existing);
  std::string what;
  if (rng.chance(0.75)) {
    what = mutate_hdf5(rng, out, {"x", "y"});
  } else {
    Bytes b = read_file(out);
    mutate_bytes(rng, b, {"\x89HDF\r\n\x1a\n", std::string(8, '\xff'), "TREE", "OHDR"}, 3);
    write_file(out, b);
    what = "byte-level";
  }
  write_file(dir / "mutation.txt", what + "\n");
}

/// A data set that loads must keep Dataset's invariants.
void check(const data::Dataset& ds) {
  if (ds.x.rows() != ds.y.size() || ds.x.cols() != ds.shape.size() || ds.size() < 1 || !ds.x.allFinite() ||
      ds.y.minCoeff() < 0 || ds.y.maxCoeff() + 1 != ds.classes)
    throw Finding("a loaded data set breaks the Dataset invariants");
}

void execute_array(const fs::path& input) {
  std::string last;
  for (const char* ext : {".npz", ".h5", ".bin"}) {
    fs::path p = input;
    if (ext != input.extension()) {
      p = input.parent_path() / (input.stem().string() + ext);
      fs::remove(p);
      fs::create_symlink(input.filename(), p);
    }
    try {
      check(data::load_dataset(p.string(), "test", ""));
    } catch (const Error& e) {
      last = e.what();
    }
  }
  if (!last.empty()) throw Error(last);
}

}  // namespace

Target array_target() {
  Target t;
  t.name = "array";
  t.ext = "npz";
  t.what = "data::load_array_file (.npz and .h5) and load_cifar10_batches via data::load_dataset";
  t.setup = setup_array;
  t.generate = generate_array;
  t.execute = execute_array;
  return t;
}

}  // namespace aimc::fuzz
