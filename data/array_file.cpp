#include "data/array_file.hpp"

#include <H5Cpp.h>
#include <zip.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/hdf5io.hpp"

namespace aimc::data {

namespace {

namespace fs = std::filesystem;

// .npy data is little-endian and copied as is; the build targets x86-64 only (AIMC_ARCH).
static_assert(std::endian::native == std::endian::little, "the .npy decoder assumes a little-endian host");

using Dims = std::vector<std::uint64_t>;

/// numpy's notation: (3,) for rank 1, (2, 3) otherwise.
std::string shape_str(const Dims& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

/// At most `max` characters of s with anything unprintable as '?', so an error stays one line.
std::string printable(std::string_view s, std::size_t max = 80) {
  std::string out;
  for (char ch : s.substr(0, max)) out += (ch >= 0x20 && ch < 0x7f) ? ch : '?';
  if (s.size() > max) out += "...";
  return out;
}

/// Elements of an array of this shape; every dimension must be non-zero and the count at most
/// array_max_elements (checked before any multiplication can overflow).
std::uint64_t element_count(const std::string& path, const std::string& array, const Dims& shape) {
  std::uint64_t n = 1;
  for (std::uint64_t d : shape) {
    if (d == 0) fail_at(path, array, "shape " + shape_str(shape) + " has a zero dimension, expected every size >= 1");
    if (n > array_max_elements / d) {
      fail_at(path, array, "shape " + shape_str(shape) + " holds more than " + std::to_string(array_max_elements) +
                               " elements, the most aimc reads");
    }
    n *= d;
  }
  return n;
}

/// The file's x layout: (N, C, H, W), or (N, F) seen as (N, F, 1, 1).
struct XLayout {
  std::uint64_t n = 0, c = 1, h = 1, w = 1;
  int rank = 2;
  std::uint64_t features() const { return c * h * w; }
};

XLayout x_layout(const std::string& path, const Dims& shape) {
  if (shape.size() != 2 && shape.size() != 4) {
    fail_at(path, "x", "shape " + shape_str(shape) + " has rank " + std::to_string(shape.size()) +
                           ", expected (N, C, H, W) images or (N, features)");
  }
  (void)element_count(path, "x", shape);
  XLayout l;
  l.rank = static_cast<int>(shape.size());
  l.n = shape[0];
  l.c = shape[1];
  if (l.rank == 4) {
    l.h = shape[2];
    l.w = shape[3];
  }
  return l;
}

void check_y_shape(const std::string& path, const Dims& shape, std::uint64_t n) {
  if (shape.size() != 1) {
    fail_at(path, "y", "shape " + shape_str(shape) + " has rank " + std::to_string(shape.size()) +
                           ", expected (N,) integer class labels");
  }
  if (shape[0] != n) {
    fail_at(path, "y", std::to_string(shape[0]) + " labels for " + std::to_string(n) +
                           " samples in x, expected one label per sample");
  }
}

/// Receives x's values in the file's row-major order (N, C, H, W) and stores them channel-last
/// ((h * W + w) * C + c within row n), checking each: finite and, from float64, within float range.
class XWriter {
 public:
  XWriter(const std::string& path, const XLayout& l, Matrix& out) : path_(path), l_(l), out_(out.data()) {
    hw_size_ = l.h * l.w;
  }

  /// n values of type T (float or double), stored as raw bytes (possibly unaligned).
  template <class T>
  void put(const std::uint8_t* bytes, std::size_t n) {
    for (std::size_t k = 0; k < n; ++k) {
      T v;
      std::memcpy(&v, bytes + k * sizeof(T), sizeof(T));
      if (!std::isfinite(v)) bad(to_str(v) + ", expected finite values");
      if constexpr (std::is_same_v<T, double>) {
        if (std::fabs(v) > double(FLT_MAX)) bad(to_str(v) + ", beyond the float32 range (|x| <= 3.4e38) aimc computes in");
      }
      out_[s_ * l_.features() + hw_ * l_.c + c_] = static_cast<float>(v);
      if (++hw_ == hw_size_) {
        hw_ = 0;
        if (++c_ == l_.c) {
          c_ = 0;
          ++s_;
        }
      }
    }
  }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    std::string at = "[" + std::to_string(s_) + ", " + std::to_string(c_);
    if (l_.rank == 4) at += ", " + std::to_string(hw_ / l_.w) + ", " + std::to_string(hw_ % l_.w);
    fail_at(path_, "x", "value at " + at + "] is " + what);
  }

  const std::string& path_;
  XLayout l_;
  float* out_;
  std::uint64_t hw_size_ = 1;
  std::uint64_t s_ = 0, c_ = 0, hw_ = 0;  ///< file position of the next value: sample, channel, h * W + w
};

/// Receives y's labels in order and checks each is in [0, array_max_label].
class YWriter {
 public:
  YWriter(const std::string& path, VectorI& out) : path_(path), out_(out) {}

  template <class T>
  void put(const std::uint8_t* bytes, std::size_t n) {
    for (std::size_t k = 0; k < n; ++k) {
      T v;
      std::memcpy(&v, bytes + k * sizeof(T), sizeof(T));
      bool ok = false;
      if constexpr (std::is_signed_v<T>) {
        ok = v >= 0 && static_cast<std::int64_t>(v) <= array_max_label;
      } else {
        ok = static_cast<std::uint64_t>(v) <= static_cast<std::uint64_t>(array_max_label);
      }
      if (!ok) {
        fail_at(path_, "y", "label " + std::to_string(v) + " at [" + std::to_string(i_) + "], expected 0.." +
                                std::to_string(array_max_label));
      }
      out_(static_cast<Eigen::Index>(i_++)) = static_cast<std::int32_t>(v);
    }
  }

 private:
  const std::string& path_;
  VectorI& out_;
  std::uint64_t i_ = 0;
};

/// A Dataset with room for n samples of the layout, or an Error naming the size if memory runs out.
Dataset allocate(const std::string& path, const XLayout& l) {
  Dataset ds;
  ds.name = path;
  ds.shape = Shape{static_cast<int>(l.c), static_cast<int>(l.h), static_cast<int>(l.w)};
  try {
    ds.x.resize(static_cast<Eigen::Index>(l.n), static_cast<Eigen::Index>(l.features()));
    ds.y.resize(static_cast<Eigen::Index>(l.n));
  } catch (const std::bad_alloc&) {
    fail_at(path, "x", "out of memory for " + std::to_string(l.n) + " x " + std::to_string(l.features()) +
                           " float32 values");
  }
  return ds;
}

void finish(Dataset& ds) { ds.classes = ds.y.maxCoeff() + 1; }

// ---------------------------------------------------------------------------------------------
// .npy header (numpy/lib/format.py)

/// An array element type from a .npy 'descr': kind 'f', 'i' or 'u', and size in bytes.
struct Dtype {
  char kind = 0;
  int bytes = 0;
};

constexpr std::string_view x_dtypes = "float32 '<f4' or float64 '<f8'";
constexpr std::string_view y_dtypes = "an integer dtype ('<i8', '<i4', '<i2', '|i1', '|u1', '<u2', '<u4' or '<u8')";

Dtype parse_descr(const std::string& path, const std::string& array, const std::string& descr) {
  const bool is_x = array == "x";
  const std::string expected = "expected " + std::string(is_x ? x_dtypes : y_dtypes);
  const std::string quoted = "'" + printable(descr, 40) + "'";
  Dtype t;
  if (descr.size() >= 3 && (descr[1] == 'f' || descr[1] == 'i' || descr[1] == 'u') &&
      descr.find_first_not_of("0123456789", 2) == std::string::npos && descr.size() <= 4) {
    t.kind = descr[1];
    t.bytes = std::stoi(descr.substr(2));
  }
  if (t.kind != 0 && descr[0] == '>' && t.bytes > 1) {
    fail_at(path, array, "dtype " + quoted + " is big-endian, expected little-endian (save with .astype('<" +
                             descr.substr(1) + "'))");
  }
  const bool order_ok = descr.size() >= 1 && (descr[0] == '<' || (descr[0] == '|' && t.bytes == 1));
  const bool kind_ok = is_x ? (t.kind == 'f' && (t.bytes == 4 || t.bytes == 8))
                            : ((t.kind == 'i' || t.kind == 'u') &&
                               (t.bytes == 1 || t.bytes == 2 || t.bytes == 4 || t.bytes == 8));
  if (!order_ok || !kind_ok) fail_at(path, array, "dtype " + quoted + ", " + expected);
  return t;
}

struct NpyHeader {
  Dtype dtype;
  Dims shape;
  std::size_t header_bytes = 0;  ///< magic + version + length field + dict
};

/// Parses the Python dict literal of a .npy header: {'descr': '<f4', 'fortran_order': False,
/// 'shape': (2, 3), } with exactly those three keys, in any order.
class HeaderParser {
 public:
  HeaderParser(const std::string& path, const std::string& array, std::string_view text)
      : path_(path), array_(array), s_(text) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_fortran = false, have_shape = false;
    std::string descr;
    bool fortran = false;
    ws();
    expect('{');
    for (;;) {
      ws();
      if (eat('}')) break;
      const std::string key = string();
      ws();
      expect(':');
      ws();
      if (key == "descr") {
        if (have_descr) bad("key 'descr' given twice");
        if (peek() == '[') {
          fail_at(path_, array_, "structured dtype (a list of fields) in the .npy header, expected " +
                                     std::string(array_ == "x" ? x_dtypes : y_dtypes));
        }
        descr = string();
        have_descr = true;
      } else if (key == "fortran_order") {
        if (have_fortran) bad("key 'fortran_order' given twice");
        fortran = boolean();
        have_fortran = true;
      } else if (key == "shape") {
        if (have_shape) bad("key 'shape' given twice");
        h.shape = tuple();
        have_shape = true;
      } else {
        bad("unexpected key '" + printable(key, 40) + "', expected 'descr', 'fortran_order' and 'shape'");
      }
      ws();
      if (eat(',')) continue;
      ws();
      expect('}');
      break;
    }
    ws();
    if (i_ != s_.size()) bad("text after the closing '}'");
    if (!have_descr || !have_fortran || !have_shape) {
      bad(std::string("missing key '") + (!have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape") + "'");
    }
    if (fortran) {
      fail_at(path_, array_, "fortran_order is True (column-major), expected C order (save np.ascontiguousarray(" +
                                 array_ + "))");
    }
    h.dtype = parse_descr(path_, array_, descr);
    return h;
  }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    fail_at(path_, array_, "malformed .npy header at character " + std::to_string(i_) + ": " + what + " (header: " +
                               printable(s_) + ")");
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    if (peek() != c || i_ >= s_.size()) return false;
    ++i_;
    return true;
  }
  void expect(char c) {
    if (!eat(c)) bad(std::string("expected '") + c + "'");
  }
  /// A quoted string without escapes (numpy writes none in these fields).
  std::string string() {
    const char q = peek();
    if (q != '\'' && q != '"') bad("expected a quoted string");
    const std::size_t end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos) bad("unterminated string");
    std::string out(s_.substr(i_ + 1, end - i_ - 1));
    if (out.find('\\') != std::string::npos) bad("escape sequence in a string");
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    if (s_.substr(i_, 4) == "True") {
      i_ += 4;
      return true;
    }
    if (s_.substr(i_, 5) == "False") {
      i_ += 5;
      return false;
    }
    bad("expected True or False");
  }
  /// (d0, d1, ...) of non-negative integers; a Python 2 'L' suffix is accepted, as numpy does.
  Dims tuple() {
    expect('(');
    Dims out;
    for (;;) {
      ws();
      if (eat(')')) return out;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) bad("expected a non-negative integer in 'shape'");
      std::uint64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        if (v > (std::uint64_t{1} << 58)) bad("dimension in 'shape' too large");
        v = v * 10 + static_cast<std::uint64_t>(s_[i_++] - '0');
      }
      eat('L');
      if (out.size() >= 64) bad("more than 64 dimensions in 'shape'");
      out.push_back(v);
      ws();
      if (eat(',')) continue;
      ws();
      expect(')');
      // (3) is a parenthesized integer in Python, not a tuple; numpy never writes it.
      if (out.size() == 1) bad("'shape' (" + std::to_string(out[0]) + ") is not a tuple, expected (" +
                               std::to_string(out[0]) + ",)");
      return out;
    }
  }

  const std::string& path_;
  const std::string& array_;
  std::string_view s_;
  std::size_t i_ = 0;
};

// ---------------------------------------------------------------------------------------------
// .npz: a zip archive read with libzip

std::string zip_message(zip_error_t* e) {
  const char* m = zip_error_strerror(e);
  return m ? m : "unknown libzip error";
}

/// True if the file begins with a zip local file header ("PK\3\4"): libzip then reports a missing
/// end of central directory as "not a zip archive", but the file is a truncated or damaged one.
bool starts_like_zip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char b[4] = {};
  in.read(b, 4);
  return in.gcount() == 4 && std::memcmp(b, "PK\3\4", 4) == 0;
}

class ZipArchive {
 public:
  explicit ZipArchive(const std::string& path) : path_(path) {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_file_create(path.c_str(), 0, -1, &err);
    if (!src) {
      const std::string m = zip_message(&err);
      zip_error_fini(&err);
      fail_at(path, "", "cannot open: " + m);
    }
    // ZIP_CHECKCONS: the local headers must agree with the central directory.
    z_ = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!z_) {
      zip_source_free(src);
      const int code = zip_error_code_zip(&err);
      const std::string m = zip_message(&err);
      zip_error_fini(&err);
      if (code == ZIP_ER_NOZIP && !starts_like_zip(path)) {
        fail_at(path, "", "not a zip archive, expected an .npz file written by np.savez or np.savez_compressed");
      }
      fail_at(path, "", std::string("truncated or corrupt zip archive") +
                            (code == ZIP_ER_NOZIP ? ", its central directory is missing" : "") + " (libzip: " + m + ")");
    }
    zip_error_fini(&err);
  }
  ~ZipArchive() {
    if (z_) zip_discard(z_);
  }
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  zip_t* get() const { return z_; }

  /// Index of `<array>.npy`; throws naming the members present when it is missing.
  zip_uint64_t locate(const std::string& array) const {
    const zip_int64_t i = zip_name_locate(z_, (array + ".npy").c_str(), ZIP_FL_ENC_RAW);
    if (i >= 0) return static_cast<zip_uint64_t>(i);
    std::string names;
    const zip_int64_t n = zip_get_num_entries(z_, 0);
    for (zip_int64_t k = 0; k < n && k < 20; ++k) {
      const char* name = zip_get_name(z_, static_cast<zip_uint64_t>(k), ZIP_FL_ENC_RAW);
      if (name) names += std::string(names.empty() ? "" : ", ") + printable(name, 40);
    }
    if (n > 20) names += ", ...";
    fail_at(path_, array, "missing array (no " + array + ".npy in the archive; it holds: " +
                              (names.empty() ? std::string("nothing") : names) + ")");
  }

 private:
  std::string path_;
  zip_t* z_ = nullptr;
};

/// One member of the archive, read sequentially. Every failure (a corrupt deflate stream, a CRC
/// mismatch, a truncated archive) is an Error naming the array.
class ZipMember {
 public:
  ZipMember(const ZipArchive& za, zip_uint64_t index, const std::string& path, const std::string& array)
      : path_(path), array_(array) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za.get(), index, 0, &st) != 0) fail("cannot stat", zip_get_error(za.get()));
    if (st.valid & ZIP_STAT_SIZE) size_ = st.size;
    f_ = zip_fopen_index(za.get(), index, 0);
    if (!f_) fail("cannot open", zip_get_error(za.get()));
  }
  ~ZipMember() {
    if (f_) zip_fclose(f_);
  }
  ZipMember(const ZipMember&) = delete;
  ZipMember& operator=(const ZipMember&) = delete;

  /// Uncompressed size the archive declares (UINT64_MAX if unknown).
  std::uint64_t declared_size() const { return size_; }

  /// Reads up to n bytes; fewer only at the end of the member.
  std::size_t read(std::uint8_t* buf, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
      const zip_int64_t r = zip_fread(f_, buf + got, n - got);
      if (r < 0) fail("cannot read", zip_file_get_error(f_));
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    return got;
  }

 private:
  [[noreturn]] void fail(const std::string& what, zip_error_t* e) const {
    const int code = zip_error_code_zip(e);
    const std::string m = zip_message(e);
    const std::string member = array_ + ".npy";
    if (code == ZIP_ER_ZLIB || code == ZIP_ER_COMPRESSED_DATA) {
      fail_at(path_, array_, "corrupt deflate stream in " + member + ": " + m);
    }
    if (code == ZIP_ER_CRC) fail_at(path_, array_, "CRC mismatch in " + member + " (damaged data)");
    fail_at(path_, array_, what + " " + member + " in the archive: " + m);
  }

  std::string path_, array_;
  zip_file_t* f_ = nullptr;
  std::uint64_t size_ = UINT64_MAX;
};

std::uint32_t little_endian(const std::uint8_t* b, int bytes) {
  std::uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

/// Reads and parses the .npy header at the start of a member.
NpyHeader read_npy_header(ZipMember& m, const std::string& path, const std::string& array) {
  const std::string member = array + ".npy";
  std::uint8_t pre[12] = {};
  const std::size_t got = m.read(pre, 10);
  static constexpr std::uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (got < 8 || std::memcmp(pre, magic, 6) != 0) {
    fail_at(path, array, member + " is not a .npy array (" +
                             (got < 8 ? "only " + std::to_string(got) + " bytes" : std::string("bad magic")) +
                             ", expected \"\\x93NUMPY\" and a version)");
  }
  const int major = pre[6], minor = pre[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    fail_at(path, array, member + ": .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                             ", expected 1.0, 2.0 or 3.0");
  }
  const int len_bytes = major == 1 ? 2 : 4;
  std::size_t have = got;
  if (have < 8u + len_bytes) have += m.read(pre + have, 8u + len_bytes - have);
  if (have < 8u + len_bytes) fail_at(path, array, member + ": truncated .npy header");
  const std::size_t len = little_endian(pre + 8, len_bytes);
  if (len > npy_max_header_bytes) {
    fail_at(path, array, member + ": .npy header of " + std::to_string(len) + " bytes, expected at most " +
                             std::to_string(npy_max_header_bytes));
  }
  std::string text(len, '\0');
  const std::size_t prefix = 8 + static_cast<std::size_t>(len_bytes);
  // Bytes already read past the length field (version 1 reads 10 = prefix bytes, so none).
  const std::size_t extra = have - prefix;
  std::memcpy(text.data(), pre + prefix, std::min(extra, len));
  if (m.read(reinterpret_cast<std::uint8_t*>(text.data()) + extra, len - extra) < len - extra) {
    fail_at(path, array, member + ": truncated .npy header (expected " + std::to_string(len) + " bytes)");
  }
  NpyHeader h = HeaderParser(path, array, text).parse();
  h.header_bytes = prefix + len;
  return h;
}

/// Reads `bytes` of data after the header, growing the buffer as data arrives (a header that lies
/// cannot make us allocate more than the member holds), then checks that the member ends there
/// (reading on to the end also makes libzip verify the CRC).
std::vector<std::uint8_t> read_npy_data(ZipMember& m, const NpyHeader& h, const std::string& path,
                                        const std::string& array) {
  const std::string member = array + ".npy";
  const std::uint64_t bytes = element_count(path, array, h.shape) * static_cast<std::uint64_t>(h.dtype.bytes);
  const std::string need = "header (shape " + shape_str(h.shape) + ", " + std::to_string(h.dtype.bytes) +
                           "-byte elements) needs " + std::to_string(h.header_bytes + bytes) + " bytes";
  if (m.declared_size() != UINT64_MAX && m.declared_size() != h.header_bytes + bytes) {
    fail_at(path, array, member + " holds " + std::to_string(m.declared_size()) + " bytes but its " + need);
  }
  std::vector<std::uint8_t> data;
  try {
    data.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(bytes, std::uint64_t{64} << 20)));
    std::size_t got = 0;
    while (got < bytes) {
      const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(bytes - got, std::uint64_t{8} << 20));
      data.resize(got + chunk);
      const std::size_t r = m.read(data.data() + got, chunk);
      got += r;
      if (r < chunk) {
        fail_at(path, array, member + " truncated: " + std::to_string(h.header_bytes + got) + " bytes, but its " + need);
      }
    }
  } catch (const std::bad_alloc&) {
    fail_at(path, array, "out of memory for " + std::to_string(bytes) + " bytes of data");
  }
  std::uint8_t one = 0;
  if (m.read(&one, 1) != 0) fail_at(path, array, member + " has bytes after the data its " + need);
  return data;
}

Dataset load_npz(const std::string& path) {
  ZipArchive za(path);
  ZipMember xm(za, za.locate("x"), path, "x");
  const NpyHeader xh = read_npy_header(xm, path, "x");
  const XLayout l = x_layout(path, xh.shape);
  ZipMember ym(za, za.locate("y"), path, "y");
  const NpyHeader yh = read_npy_header(ym, path, "y");
  check_y_shape(path, yh.shape, l.n);

  const std::vector<std::uint8_t> ydata = read_npy_data(ym, yh, path, "y");
  std::vector<std::uint8_t> xdata = read_npy_data(xm, xh, path, "x");
  Dataset ds = allocate(path, l);
  YWriter yw(path, ds.y);
  const std::size_t ny = static_cast<std::size_t>(l.n);
  const bool sign = yh.dtype.kind == 'i';
  switch (yh.dtype.bytes) {
    case 1: sign ? yw.put<std::int8_t>(ydata.data(), ny) : yw.put<std::uint8_t>(ydata.data(), ny); break;
    case 2: sign ? yw.put<std::int16_t>(ydata.data(), ny) : yw.put<std::uint16_t>(ydata.data(), ny); break;
    case 4: sign ? yw.put<std::int32_t>(ydata.data(), ny) : yw.put<std::uint32_t>(ydata.data(), ny); break;
    default: sign ? yw.put<std::int64_t>(ydata.data(), ny) : yw.put<std::uint64_t>(ydata.data(), ny); break;
  }
  XWriter xw(path, l, ds.x);
  const std::size_t nx = static_cast<std::size_t>(l.n * l.features());
  if (xh.dtype.bytes == 4) {
    xw.put<float>(xdata.data(), nx);
  } else {
    xw.put<double>(xdata.data(), nx);
  }
  finish(ds);
  return ds;
}

// ---------------------------------------------------------------------------------------------
// HDF5

/// Opens dataset `name` of the root group: it must exist, be a dataset with a simple dataspace, and
/// have all its storage written.
H5::DataSet open_h5_array(const H5::Group& root, const std::string& path, const std::string& name, Dims& shape) {
  if (!root.nameExists(name)) {
    fail_at(path, name, "missing dataset '" + name + "' (expected datasets x and y in the root group)");
  }
  if (root.childObjType(name) != H5O_TYPE_DATASET) fail_at(path, name, "is not a dataset");
  H5::DataSet ds = root.openDataSet(name);
  const H5::DataSpace sp = ds.getSpace();
  if (sp.getSimpleExtentType() != H5S_SIMPLE) {
    fail_at(path, name, "scalar or empty dataspace, expected an array");
  }
  std::vector<hsize_t> d(static_cast<std::size_t>(sp.getSimpleExtentNdims()));
  sp.getSimpleExtentDims(d.data());
  shape.assign(d.begin(), d.end());
  return ds;
}

/// Every value of the dataset has storage, i.e. was written: reading never makes up fill values (a
/// dataset created but never written, or a huge extent declared over unallocated chunks). A chunked
/// dataset must have all its chunks; HDF5's space status cannot tell, since it compares allocated
/// bytes with the uncompressed size and so calls any compressed dataset partly allocated.
/// "integer (4 bytes)", "float (8 bytes)", "string", ... for error messages.
std::string h5_type_name(const H5::DataSet& ds) {
  const std::string bytes = " (" + std::to_string(ds.getDataType().getSize()) + " bytes)";
  switch (ds.getTypeClass()) {
    case H5T_INTEGER: return "integer" + bytes;
    case H5T_FLOAT: return "float" + bytes;
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound (structured)";
    case H5T_ENUM: return "enum";
    case H5T_ARRAY: return "array";
    case H5T_VLEN: return "variable-length";
    default: return "class " + std::to_string(int(ds.getTypeClass()));
  }
}

void require_written(const H5::DataSet& ds, const Dims& dims, const std::string& path, const std::string& name) {
  bool written = false;
  const H5::DSetCreatPropList plist = ds.getCreatePlist();
  if (plist.getLayout() == H5D_CHUNKED) {
    std::vector<hsize_t> chunk(dims.size());
    if (plist.getChunk(static_cast<int>(chunk.size()), chunk.data()) != static_cast<int>(chunk.size())) {
      fail_at(path, name, "chunk rank differs from the dataset rank");
    }
    std::uint64_t total = 1;
    for (std::size_t k = 0; k < dims.size(); ++k) {
      if (chunk[k] == 0) fail_at(path, name, "chunk dimension of 0");
      total *= (dims[k] + chunk[k] - 1) / chunk[k];  // <= element count <= array_max_elements
    }
    hsize_t have = 0;
    const H5::DataSpace space = ds.getSpace();  // libhdf5 1.10 rejects H5S_ALL here
    if (H5Dget_num_chunks(ds.getId(), space.getId(), &have) < 0) fail_at(path, name, "cannot count the written chunks");
    written = have == total;
  } else {
    H5D_space_status_t status = H5D_SPACE_STATUS_ERROR;
    ds.getSpaceStatus(status);
    written = status == H5D_SPACE_STATUS_ALLOCATED;
  }
  if (!written) {
    fail_at(path, name, "storage not (fully) written, so values would be HDF5 fill values; expected every value written");
  }
}

/// Reads the whole dataset as memory type T in blocks of at most ~2^20 elements, in row-major order,
/// passing each block's bytes to sink(bytes, count). A block is a hyperslab that is contiguous in
/// row-major order: whole trailing dimensions and a run along the first dimension that is not whole.
template <class T, class Sink>
void read_h5_blocks(const H5::DataSet& ds, const H5::PredType& mem, const Dims& dims, Sink&& sink) {
  constexpr std::uint64_t block = std::uint64_t{1} << 20;
  const std::size_t r = dims.size();
  std::vector<std::uint64_t> inner(r, 1);  // elements below dimension k
  for (std::size_t k = r - 1; k > 0; --k) inner[k - 1] = inner[k] * dims[k];
  std::size_t split = 0;
  while (inner[split] > block) ++split;  // inner[r - 1] = 1, so this stops
  const std::uint64_t run = std::max<std::uint64_t>(1, block / inner[split]);
  std::vector<T> buf(static_cast<std::size_t>(std::min<std::uint64_t>(run, dims[split]) * inner[split]));
  std::vector<hsize_t> start(r, 0), count(dims.begin(), dims.end());
  for (std::size_t k = 0; k < split; ++k) count[k] = 1;
  H5::DataSpace file_space = ds.getSpace();
  for (;;) {
    for (std::uint64_t j = 0; j < dims[split]; j += run) {
      start[split] = j;
      count[split] = std::min<std::uint64_t>(run, dims[split] - j);
      const hsize_t n = count[split] * inner[split];
      file_space.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
      H5::DataSpace mem_space(1, &n);
      ds.read(buf.data(), mem, mem_space, file_space);
      sink(reinterpret_cast<const std::uint8_t*>(buf.data()), static_cast<std::size_t>(n));
    }
    // Next index of the dimensions before `split` (an odometer); done when it wraps.
    std::size_t k = split;
    while (k > 0 && ++start[k - 1] == dims[k - 1]) start[--k] = 0;
    if (k == 0) return;
  }
}

Dataset load_h5(const std::string& path) {
  H5::Exception::dontPrint();
  H5::H5File f = h5::open_read(path);
  std::string at;  // the array being worked on, for an HDF5 error's message
  try {
    const H5::Group root = f.openGroup("/");
    Dims xshape, yshape;
    at = "x";
    const H5::DataSet x = open_h5_array(root, path, "x", xshape);
    const XLayout l = x_layout(path, xshape);
    const std::size_t xbytes = x.getDataType().getSize();
    if (x.getTypeClass() != H5T_FLOAT || (xbytes != 4 && xbytes != 8)) {
      fail_at(path, "x", "HDF5 type " + h5_type_name(x) + ", expected float32 or float64");
    }
    at = "y";
    const H5::DataSet y = open_h5_array(root, path, "y", yshape);
    check_y_shape(path, yshape, l.n);
    if (y.getTypeClass() != H5T_INTEGER) {
      fail_at(path, "y", "HDF5 type " + h5_type_name(y) + ", expected integer class labels");
    }
    at = "x";
    require_written(x, xshape, path, "x");
    at = "y";
    require_written(y, yshape, path, "y");

    Dataset ds = allocate(path, l);
    YWriter yw(path, ds.y);
    if (y.getIntType().getSign() == H5T_SGN_NONE) {
      read_h5_blocks<std::uint64_t>(y, H5::PredType::NATIVE_UINT64, yshape,
                                    [&](const std::uint8_t* b, std::size_t n) { yw.put<std::uint64_t>(b, n); });
    } else {
      read_h5_blocks<std::int64_t>(y, H5::PredType::NATIVE_INT64, yshape,
                                   [&](const std::uint8_t* b, std::size_t n) { yw.put<std::int64_t>(b, n); });
    }
    at = "x";
    XWriter xw(path, l, ds.x);
    if (xbytes == 4) {
      read_h5_blocks<float>(x, H5::PredType::NATIVE_FLOAT, xshape,
                            [&](const std::uint8_t* b, std::size_t n) { xw.put<float>(b, n); });
    } else {
      read_h5_blocks<double>(x, H5::PredType::NATIVE_DOUBLE, xshape,
                             [&](const std::uint8_t* b, std::size_t n) { xw.put<double>(b, n); });
    }
    finish(ds);
    return ds;
  } catch (const H5::Exception& e) {
    fail_at(path, at, "HDF5 error: " + printable(e.getDetailMsg(), 200));
  }
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Dataset load_array_file(const std::string& path) {
  const std::string ext = lower(fs::path(path).extension().string());
  const bool npz = ext == ".npz", h5 = ext == ".h5" || ext == ".hdf5";
  if (!npz && !h5) {
    fail_at(path, "", "unknown extension '" + printable(ext, 20) + "', expected .npz, .h5 or .hdf5");
  }
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) fail_at(path, "", "file not found");
  if (fs::is_directory(st)) fail_at(path, "", "is a directory, expected a file");
  return npz ? load_npz(path) : load_h5(path);
}

}  // namespace aimc::data
