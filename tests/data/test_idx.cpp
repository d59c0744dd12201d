#include <doctest/doctest.h>
#include <zlib.h>

#include <string>
#include <vector>

#include "core/random.hpp"
#include "data/idx.hpp"
#include "tests/data/helpers.hpp"

using namespace aimc;
using namespace aimc::data;
using aimc::test::error_of;
using aimc::test::read_bytes;
using aimc::test::ScratchDir;
using aimc::test::write_bytes;

namespace {

/// An IDX file's bytes: magic 0x00 0x00 type rank, big-endian dims, then data.
std::vector<std::uint8_t> idx_bytes(std::uint8_t type, const std::vector<std::uint32_t>& dims,
                                    const std::vector<std::uint8_t>& data) {
  std::vector<std::uint8_t> b = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(d >> shift));
  }
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

void write_gz(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb9");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t index) {
  Stream s(2024, "test-idx-bytes", {index});
  std::vector<std::uint8_t> v(n);
  for (auto& x : v) x = static_cast<std::uint8_t>(s.below(256));
  return v;
}

}  // namespace

TEST_CASE("idx: plain and gzip image and label files read back exactly") {
  ScratchDir dir("idx-roundtrip");
  const std::vector<std::uint8_t> pixels = random_bytes(7 * 5 * 3, 0);
  const std::vector<std::uint8_t> labels = random_bytes(7, 1);
  const auto images_file = idx_bytes(0x08, {7, 5, 3}, pixels);
  const auto labels_file = idx_bytes(0x08, {7}, labels);

  write_bytes(dir.file("images"), images_file);
  write_bytes(dir.file("labels"), labels_file);
  write_gz(dir.file("images.gz"), images_file);
  write_gz(dir.file("labels.gz"), labels_file);
  // The compressed file really is gzip (magic 1f 8b), so the gz path is exercised.
  CHECK(read_bytes(dir.file("images.gz"))[0] == 0x1f);
  CHECK(read_bytes(dir.file("images.gz"))[1] == 0x8b);

  for (const std::string suffix : {"", ".gz"}) {
    CAPTURE(suffix);
    const IdxImages im = read_idx_images(dir.file("images" + suffix));
    CHECK(im.count == 7);
    CHECK(im.rows == 5);
    CHECK(im.cols == 3);
    CHECK(im.pixels == pixels);
    CHECK(read_idx_labels(dir.file("labels" + suffix)) == labels);
    const IdxArray a = read_idx(dir.file("images" + suffix), 3);
    CHECK(a.dims == std::vector<std::uint32_t>{7, 5, 3});
    CHECK(a.data == pixels);
  }
}

TEST_CASE("idx: a file larger than zlib's and our read buffers round-trips") {
  // 3 MiB of data spans several 1 MiB read chunks and many gzip buffer refills.
  ScratchDir dir("idx-large");
  const std::vector<std::uint8_t> pixels = random_bytes(3 * 1024 * 1024, 2);
  const auto bytes = idx_bytes(0x08, {3072, 32, 32}, pixels);
  write_gz(dir.file("big.gz"), bytes);
  const IdxImages im = read_idx_images(dir.file("big.gz"));
  CHECK(im.count == 3072);
  CHECK(im.pixels == pixels);
}

TEST_CASE("idx: malformed files give one-line errors naming the file and the problem") {
  ScratchDir dir("idx-bad");
  const std::vector<std::uint8_t> pixels = random_bytes(4 * 3 * 2, 3);
  const auto good = idx_bytes(0x08, {4, 3, 2}, pixels);  // 16-byte header + 24 bytes
  const std::string p = dir.file("case");
  const std::string pgz = dir.file("case.gz");
  auto images_error = [&](const std::string& path) { return error_of([&] { read_idx_images(path); }); };

  SUBCASE("missing file") {
    CHECK(images_error(dir.file("absent")) == dir.file("absent") + ": cannot open: No such file or directory");
  }
  SUBCASE("empty file") {
    write_bytes(p, {});
    CHECK(images_error(p) == p + ": empty file, expected an IDX header");
  }
  SUBCASE("wrong magic") {
    auto b = good;
    b[0] = 0x12;
    b[1] = 0x34;
    write_bytes(p, b);
    CHECK(images_error(p) == p + ": bad magic number 0x12340803, expected 0x00000803 (not an IDX file)");
  }
  SUBCASE("wrong type byte") {
    auto b = good;
    b[2] = 0x0d;  // float
    write_bytes(p, b);
    CHECK(images_error(p) == p + ": data type 0x0d in magic number 0x00000d03, expected 0x08 (unsigned byte)");
  }
  SUBCASE("label file read as images") {
    write_bytes(p, idx_bytes(0x08, {5}, random_bytes(5, 4)));
    CHECK(images_error(p) == p + ": magic number 0x00000801 says rank 1, expected 0x00000803 (rank 3)");
  }
  SUBCASE("truncated header") {
    write_bytes(p, std::vector<std::uint8_t>(good.begin(), good.begin() + 10));
    CHECK(images_error(p) == p + ": truncated header: expected 16 bytes, got 10");
    write_bytes(p, std::vector<std::uint8_t>(good.begin(), good.begin() + 3));
    CHECK(images_error(p) == p + ": truncated header: expected 4-byte magic number, got 3 bytes");
  }
  SUBCASE("zero dimension") {
    write_bytes(p, idx_bytes(0x08, {4, 0, 2}, {}));
    CHECK(images_error(p) == p + ": dimension 1 is zero, expected at least 1");
    write_bytes(p, idx_bytes(0x08, {0}, {}));
    CHECK(error_of([&] { read_idx_labels(p); }) == p + ": dimension 0 is zero, expected at least 1");
  }
  SUBCASE("header claiming an absurd size") {
    write_bytes(p, idx_bytes(0x08, {100000, 4000, 4000}, pixels));
    CHECK(images_error(p) == p + ": header claims more than 2147483648 bytes of data");
  }
  SUBCASE("image side above the sanity limit") {
    write_bytes(p, idx_bytes(0x08, {1, 1, 5000}, random_bytes(5000, 5)));
    CHECK(images_error(p) == p + ": image size 1x5000, expected sides of at most 4096 pixels");
  }
  SUBCASE("truncated data, plain and gzip") {
    const std::vector<std::uint8_t> cut(good.begin(), good.end() - 5);
    write_bytes(p, cut);
    write_gz(pgz, cut);
    CHECK(images_error(p) == p + ": truncated: expected 40 bytes (header 16 + data 24), got 35");
    CHECK(images_error(pgz) == pgz + ": truncated: expected 40 bytes (header 16 + data 24), got 35");
  }
  SUBCASE("trailing bytes, plain and gzip") {
    auto longer = good;
    longer.insert(longer.end(), {1, 2, 3});
    write_bytes(p, longer);
    write_gz(pgz, longer);
    CHECK(images_error(p) == p + ": trailing bytes: 3 bytes after the expected 40");
    CHECK(images_error(pgz) == pgz + ": trailing bytes: 3 bytes after the expected 40");
  }
  SUBCASE("truncated gzip stream") {
    // Incompressible data, so the deflate stream is long and cutting it loses data, not only the trailer.
    const auto big = idx_bytes(0x08, {100, 10, 10}, random_bytes(10000, 6));
    write_gz(pgz, big);
    const auto gz = read_bytes(pgz);
    write_bytes(pgz, std::vector<std::uint8_t>(gz.begin(), gz.begin() + static_cast<long>(gz.size() / 2)));
    CHECK(images_error(pgz) == pgz + ": truncated gzip stream (unexpected end of file)");
    // Only the 8-byte trailer (CRC-32 and length) cut: all data arrives, the stream is still incomplete.
    write_bytes(pgz, std::vector<std::uint8_t>(gz.begin(), gz.end() - 4));
    CHECK(images_error(pgz) == pgz + ": truncated gzip stream (unexpected end of file)");
  }
  SUBCASE("corrupt gzip stream") {
    write_gz(pgz, good);
    auto gz = read_bytes(pgz);
    gz[gz.size() - 6] ^= 0xff;  // inside the CRC-32 of the trailer
    write_bytes(pgz, gz);
    CHECK(images_error(pgz) == pgz + ": corrupt gzip stream: incorrect data check");
    gz = read_bytes(pgz);
    gz[gz.size() - 6] ^= 0xff;
    gz[12] ^= 0x55;  // inside the deflate data
    write_bytes(pgz, gz);
    const std::string msg = images_error(pgz);
    CHECK(msg.rfind(pgz + ": corrupt gzip stream: ", 0) == 0);
  }
}

TEST_CASE("idx: a prefix read returns the first items and stops reading there") {
  ScratchDir dir("idx-prefix");
  const std::vector<std::uint8_t> pixels = random_bytes(9 * 4 * 3, 4);
  const auto bytes = idx_bytes(0x08, {9, 4, 3}, pixels);
  for (const bool gz : {false, true}) {
    CAPTURE(gz);
    const std::string whole = dir.file(gz ? "whole.gz" : "whole"), cut = dir.file(gz ? "cut.gz" : "cut");
    // `cut` ends after image 5 of 9: a prefix of up to 5 images reads, the whole file does not.
    const std::vector<std::uint8_t> cut_bytes(bytes.begin(), bytes.begin() + 16 + 5 * 12);
    if (gz) {
      write_gz(whole, bytes);
      write_gz(cut, cut_bytes);
    } else {
      write_bytes(whole, bytes);
      write_bytes(cut, cut_bytes);
    }
    for (const std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(5), std::size_t(8)}) {
      CAPTURE(n);
      const IdxImages im = read_idx_images(whole, n);
      CHECK(im.count == 9);  // the declared count
      CHECK(im.pixels == std::vector<std::uint8_t>(pixels.begin(), pixels.begin() + std::ptrdiff_t(n * 12)));
    }
    // At or above the declared count the whole file is read and checked.
    CHECK(read_idx_images(whole, 9).pixels == pixels);
    CHECK(read_idx_images(whole, 100).pixels == pixels);
    CHECK(read_idx_images(cut, 5).pixels == std::vector<std::uint8_t>(pixels.begin(), pixels.begin() + 60));
    CHECK(error_of([&] { read_idx_images(cut, 6); }) == cut + ": truncated: expected 124 bytes (header 16 + data 108), got 76");
    CHECK(error_of([&] { read_idx_images(cut); }) == cut + ": truncated: expected 124 bytes (header 16 + data 108), got 76");
  }
}
