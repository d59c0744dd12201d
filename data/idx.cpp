#include "data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.hpp"

namespace aimc::data {

namespace {

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(v));
  return buf;
}

std::string hex8(std::uint32_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned>(v & 0xffu));
  return buf;
}

std::uint32_t big_endian32(const std::uint8_t* b) {
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

/// A file opened through zlib, which reads gzip streams and passes plain files through. Every read
/// checks the stream state, because gzread reports a truncated gzip stream as a short read, not as
/// -1: only gzerror tells it apart from a clean end of file.
class ZFile {
 public:
  explicit ZFile(const std::string& path) : path_(path) {
    errno = 0;
    f_ = gzopen(path.c_str(), "rb");
    if (!f_) {
      fail_at(path, "", std::string("cannot open: ") + (errno ? std::strerror(errno) : "out of memory"));
    }
    gzbuffer(f_, 1u << 17);
  }
  ~ZFile() {
    if (f_) gzclose(f_);
  }
  ZFile(const ZFile&) = delete;
  ZFile& operator=(const ZFile&) = delete;

  /// Reads up to n bytes into buf; returns how many were read (fewer only at end of data).
  std::size_t read(std::uint8_t* buf, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - got, 1u << 20));
      const int r = gzread(f_, buf + got, chunk);
      check();
      if (r < 0) fail_at(path_, "", "read error");
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    return got;
  }

 private:
  void check() {
    int errnum = Z_OK;
    const char* msg = gzerror(f_, &errnum);
    if (errnum == Z_OK) return;
    if (errnum == Z_BUF_ERROR) fail_at(path_, "", "truncated gzip stream (unexpected end of file)");
    if (errnum == Z_ERRNO) fail_at(path_, "", std::string("read error: ") + std::strerror(errno));
    // zlib prefixes its message with the path; we add our own.
    std::string_view m = msg ? msg : "unknown zlib error";
    if (m.substr(0, path_.size() + 2) == path_ + ": ") m.remove_prefix(path_.size() + 2);
    fail_at(path_, "", "corrupt gzip stream: " + std::string(m));
  }

  std::string path_;
  gzFile f_ = nullptr;
};

}  // namespace

IdxArray read_idx(const std::string& path, int rank, std::size_t max_items) {
  if (rank < 1 || rank > 255) fail_at(path, "", "IDX rank " + std::to_string(rank) + " requested, expected 1..255");
  ZFile file(path);
  const std::uint32_t want_magic = (std::uint32_t{idx_type_ubyte} << 8) | static_cast<std::uint32_t>(rank);

  std::array<std::uint8_t, 4> m{};
  const std::size_t got_magic = file.read(m.data(), m.size());
  if (got_magic == 0) fail_at(path, "", "empty file, expected an IDX header");
  if (got_magic < m.size()) {
    fail_at(path, "", "truncated header: expected 4-byte magic number, got " + std::to_string(got_magic) + " bytes");
  }
  const std::uint32_t magic = big_endian32(m.data());
  if (m[0] != 0 || m[1] != 0) {
    fail_at(path, "", "bad magic number " + hex32(magic) + ", expected " + hex32(want_magic) + " (not an IDX file)");
  }
  if (m[2] != idx_type_ubyte) {
    fail_at(path, "", "data type " + hex8(m[2]) + " in magic number " + hex32(magic) + ", expected " +
                          hex8(idx_type_ubyte) + " (unsigned byte)");
  }
  if (m[3] != rank) {
    fail_at(path, "", "magic number " + hex32(magic) + " says rank " + std::to_string(m[3]) + ", expected " +
                          hex32(want_magic) + " (rank " + std::to_string(rank) + ")");
  }

  const std::size_t header_bytes = 4 + 4 * static_cast<std::size_t>(rank);
  std::vector<std::uint8_t> dim_bytes(4 * static_cast<std::size_t>(rank));
  const std::size_t got_dims = file.read(dim_bytes.data(), dim_bytes.size());
  if (got_dims < dim_bytes.size()) {
    fail_at(path, "", "truncated header: expected " + std::to_string(header_bytes) + " bytes, got " +
                          std::to_string(4 + got_dims));
  }

  IdxArray out;
  out.dims.resize(static_cast<std::size_t>(rank));
  std::size_t data_bytes = 1;
  for (int i = 0; i < rank; ++i) {
    const std::uint32_t d = big_endian32(dim_bytes.data() + 4 * i);
    if (d == 0) fail_at(path, "", "dimension " + std::to_string(i) + " is zero, expected at least 1");
    out.dims[static_cast<std::size_t>(i)] = d;
    if (data_bytes > idx_max_data_bytes / d) {
      fail_at(path, "", "header claims more than " + std::to_string(idx_max_data_bytes) + " bytes of data");
    }
    data_bytes *= d;
  }

  const std::size_t total_bytes = data_bytes;
  const bool prefix = max_items < out.dims[0];
  if (prefix) data_bytes = data_bytes / out.dims[0] * max_items;

  // Grow the buffer as data arrives, so a header that lies about the size cannot make us allocate
  // gigabytes for a small truncated file.
  out.data.reserve(std::min<std::size_t>(data_bytes, std::size_t{64} << 20));
  std::size_t got = 0;
  while (got < data_bytes) {
    const std::size_t chunk = std::min<std::size_t>(data_bytes - got, std::size_t{8} << 20);
    out.data.resize(got + chunk);
    const std::size_t r = file.read(out.data.data() + got, chunk);
    got += r;
    if (r < chunk) {
      fail_at(path, "", "truncated: expected " + std::to_string(header_bytes + total_bytes) + " bytes (header " +
                            std::to_string(header_bytes) + " + data " + std::to_string(total_bytes) + "), got " +
                            std::to_string(header_bytes + got));
    }
  }
  if (prefix) return out;

  // Anything after the data is an error. Reading on also surfaces a damaged gzip trailer (CRC or
  // length), which zlib only checks at the end of the stream.
  std::array<std::uint8_t, 4096> rest{};
  std::size_t extra = 0;
  while (extra < (std::size_t{1} << 20)) {
    const std::size_t r = file.read(rest.data(), rest.size());
    if (r == 0) break;
    extra += r;
  }
  if (extra > 0) {
    const bool capped = extra >= (std::size_t{1} << 20);
    fail_at(path, "", "trailing bytes: " + std::string(capped ? "at least " : "") + std::to_string(extra) +
                          " bytes after the expected " + std::to_string(header_bytes + data_bytes));
  }
  return out;
}

IdxImages read_idx_images(const std::string& path, std::size_t max_items) {
  IdxArray a = read_idx(path, 3, max_items);
  constexpr std::uint32_t max_side = 4096;
  if (a.dims[1] > max_side || a.dims[2] > max_side) {
    fail_at(path, "", "image size " + std::to_string(a.dims[1]) + "x" + std::to_string(a.dims[2]) +
                          ", expected sides of at most " + std::to_string(max_side) + " pixels");
  }
  IdxImages im;
  im.count = a.dims[0];
  im.rows = static_cast<int>(a.dims[1]);
  im.cols = static_cast<int>(a.dims[2]);
  im.pixels = std::move(a.data);
  return im;
}

std::vector<std::uint8_t> read_idx_labels(const std::string& path) { return read_idx(path, 1).data; }

}  // namespace aimc::data
