#include <zlib.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>

#include "tests/fuzz/fuzz.hpp"

namespace aimc::fuzz {

Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("fuzz: cannot read " + p.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const Bytes& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(b.data(), std::streamsize(b.size()));
  if (!out) throw std::runtime_error("fuzz: cannot write " + p.string());
}

const std::vector<std::string>& nasty_toml_values() {
  static const std::vector<std::string> v = {
      "0", "-1", "1", "2147483647", "2147483648", "-2147483649", "4294967295", "4294967296", "4294967304",
      "9223372036854775807", "-9223372036854775808", "18446744073709551616", "1e308", "-1e308", "1e-320",
      "5e-324", "0.0", "-0.0", "nan", "+nan", "-nan", "inf", "+inf", "-inf", "0.5", "1.5", "1e9", "65536",
      "\"\"", "\"x\"", "\"all\"", "\"none\"", "\"rram\"", "\"sram\"", "\"adc\"", "\"0,2\"", "\"-1\"",
      "\"4294967304\"", "\"nan\"", "\"\\u0000\"", "'\\'", std::string("\"") + std::string(5000, 'a') + "\"",
      "true", "false", "[]", "[[]]", "[1, 2]", "[0.0]", "[nan]", "[inf, -inf]", "[-1]", "[1e308]",
      "[\"a\", 1]", "[1, \"a\"]", "{}", "{ a = 1 }", "1979-05-27T07:32:00Z", "07:32:00", "0x7fffffff",
      "0o777", "0b1", "[" + std::string(2000, '[') + std::string(2000, ']') + "]"};
  return v;
}

const std::vector<std::int64_t>& nasty_ints() {
  static const std::vector<std::int64_t> v = {0, 1, -1, 2, 3, 7, 10, 28, 255, 256, 784, 65535, 65536,
                                              (1ll << 30), (1ll << 31) - 1, 1ll << 31, (1ll << 32) - 1,
                                              (1ll << 32) + 8, 1ll << 40, std::numeric_limits<std::int64_t>::max(),
                                              std::numeric_limits<std::int64_t>::min(), -(1ll << 31)};
  return v;
}

const std::vector<double>& nasty_doubles() {
  static const std::vector<double> v = {0.0, -0.0, 1.0, -1.0, 0.5, 1e308, -1e308, 5e-324,
                                        std::numeric_limits<double>::quiet_NaN(),
                                        std::numeric_limits<double>::infinity(),
                                        -std::numeric_limits<double>::infinity(), 4294967304.0, 1e19};
  return v;
}

std::vector<std::string> nasty_strings(const std::vector<std::string>& extra) {
  std::vector<std::string> v = {"", "x", "nan", "-1", "4294967304", std::string(100000, 'a'), "\xff\xfe\xfd",
                                std::string("a\0b", 3), "dense", "conv2d", "flatten", "relu", "maxpool2d",
                                "avgpool2d"};
  v.insert(v.end(), extra.begin(), extra.end());
  return v;
}

void mutate_bytes(Rng& rng, Bytes& b, const std::vector<std::string>& tokens, int max_ops) {
  const int ops = 1 + int(rng.below(std::size_t(max_ops)));
  for (int k = 0; k < ops; ++k) {
    const std::size_t pos = rng.below(b.size() + 1);
    switch (rng.below(8)) {
      case 0:
        if (!b.empty()) b[rng.below(b.size())] ^= char(1u << rng.below(8));
        break;
      case 1:
        if (!b.empty()) b[rng.below(b.size())] = char(rng.pick(std::vector<int>{0, 0xff, 0x7f, 0x80, 1, int(rng.below(256))}));
        break;
      case 2:
        b.resize(pos);
        break;
      case 3: {
        Bytes r(1 + rng.below(16), '\0');
        for (auto& c : r) c = char(rng.below(256));
        b.insert(pos, r);
        break;
      }
      case 4:
        if (!tokens.empty()) b.insert(pos, rng.pick(tokens));
        break;
      case 5:
        if (pos < b.size()) b.erase(pos, 1 + rng.below(std::min<std::size_t>(64, b.size() - pos)));
        break;
      case 6:
        if (pos < b.size()) {
          const std::size_t len = 1 + rng.below(std::min<std::size_t>(256, b.size() - pos));
          b.insert(rng.below(b.size() + 1), b.substr(pos, len));
        }
        break;
      default:  // overwrite 4 bytes with a little- or big-endian nasty 32-bit value
        if (b.size() >= 4) {
          const auto v = std::uint32_t(rng.pick(nasty_ints()));
          const std::size_t at = rng.below(b.size() - 3);
          const bool big = rng.chance(0.5);
          for (int i = 0; i < 4; ++i) b[at + std::size_t(i)] = char((v >> (8 * (big ? 3 - i : i))) & 0xff);
        }
    }
  }
}

Bytes gzip(const Bytes& b, int level) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("fuzz: deflateInit2 failed");
  Bytes out(deflateBound(&z, uLong(b.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(b.data()));
  z.avail_in = uInt(b.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  const int r = deflate(&z, Z_FINISH);
  deflateEnd(&z);
  if (r != Z_STREAM_END) throw std::runtime_error("fuzz: deflate failed");
  out.resize(z.total_out);
  return out;
}

}  // namespace aimc::fuzz
