#include <doctest/doctest.h>

#include <limits>
#include <span>

#include "core/config.hpp"

using namespace aimc;

namespace {
struct Toy {
  double c_F = 1e-15;
  int bits = 8;
  bool enabled = true;
  std::string mode = "qs";
  int offset = 0;      // an int with no range of its own: only INT_MIN..INT_MAX bounds it
  double shift = 0.0;  // a double with no range of its own
  static std::span<const Param<Toy>> params() {
    static const Param<Toy> p[] = {
        {"c_F", &Toy::c_F, "F", "a capacitance", "test", positive()},
        {"bits", &Toy::bits, "1", "a precision", "test", between(1, 16)},
        {"enabled", &Toy::enabled, "", "a flag", "test"},
        {"mode", &Toy::mode, "", "a choice", "test", {}, {"qs", "is", "qr"}},
        {"offset", &Toy::offset, "1", "a signed count", "test"},
        {"shift", &Toy::shift, "1", "an unbounded real", "test"},
    };
    return p;
  }
  void check() const {
    if (bits > 12 && mode == "qs") throw Error("parameter 'bits' = " + to_str(bits) + ": qs allows at most 12");
  }
};

std::string error_of(const std::string& toml) {
  try {
    auto c = parse_config(toml, "x.toml");
    read_params<Toy>(c.root, c.path, "toy");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("config: parameters are read, defaulted and validated through the table") {
  auto c = parse_config("c_F = 2e-15\nbits = 4\nmode = 'qr'\n", "x.toml");
  Toy t = read_params<Toy>(c.root, c.path, "toy");
  CHECK(t.c_F == 2e-15);
  CHECK(t.bits == 4);
  CHECK(t.enabled);
  CHECK(t.mode == "qr");
}

TEST_CASE("config: bad input names file, key and problem") {
  CHECK(error_of("c_F = -1.0") == "x.toml: parameter 'toy.c_F' = -1: must be in (0, inf] F");
  CHECK(error_of("bitz = 3") == "x.toml: toy.bitz: unknown key (did you mean 'bits'?)");
  CHECK(error_of("bits = 2.5") == "x.toml: toy.bits: expected an integer, got 2.5");
  CHECK(error_of("mode = 'xx'") == "x.toml: parameter 'toy.mode' = \"xx\": must be one of qs|is|qr");
  CHECK(error_of("bits = 14") == "x.toml: parameter 'bits' = 14: qs allows at most 12");
  CHECK(error_of("bits = [") .rfind("x.toml:1:", 0) == 0);
}

TEST_CASE("config: an integer is range-checked before it is narrowed to int") {
  // 4294967304 = 2^32 + 8: a plain static_cast<int> would read it as 8 (the bug this guards against).
  CHECK(error_of("bits = 4294967304") == "x.toml: parameter 'toy.bits' = 4294967304: must be in [1, 16]");
  CHECK(error_of("bits = -1") == "x.toml: parameter 'toy.bits' = -1: must be in [1, 16]");
  CHECK(error_of("bits = 9223372036854775807") ==
        "x.toml: parameter 'toy.bits' = 9223372036854775807: must be in [1, 16]");
  CHECK(error_of("offset = 2147483648") ==
        "x.toml: parameter 'toy.offset' = 2147483648: must be in [-2147483648, 2147483647]");
  CHECK(error_of("offset = -2147483649") ==
        "x.toml: parameter 'toy.offset' = -2147483649: must be in [-2147483648, 2147483647]");
  CHECK(error_of("offset = 4294967296") ==
        "x.toml: parameter 'toy.offset' = 4294967296: must be in [-2147483648, 2147483647]");
  // the ends of int itself are accepted exactly
  auto c = parse_config("offset = -2147483648", "x.toml");
  CHECK(read_params<Toy>(c.root, c.path, "toy").offset == -2147483647 - 1);
  c = parse_config("offset = 2147483647", "x.toml");
  CHECK(read_params<Toy>(c.root, c.path, "toy").offset == 2147483647);
  // TOML's own integers stop at 2^63 - 1: beyond that it is a syntax error, with file and line
  CHECK(error_of("bits = 9223372036854775808").rfind("x.toml:1:", 0) == 0);
}

TEST_CASE("config: fractions, NaN and infinities are rejected with the key") {
  CHECK(error_of("bits = 8.0") == "x.toml: toy.bits: expected an integer, got 8");
  CHECK(error_of("bits = nan") == "x.toml: toy.bits: expected an integer, got nan");
  CHECK(error_of("bits = inf") == "x.toml: toy.bits: expected an integer, got inf");
  CHECK(error_of("c_F = nan") == "x.toml: toy.c_F: expected a finite number, got nan");
  CHECK(error_of("c_F = inf") == "x.toml: toy.c_F: expected a finite number, got inf");
  CHECK(error_of("c_F = -inf") == "x.toml: toy.c_F: expected a finite number, got -inf");
  CHECK(error_of("shift = +inf") == "x.toml: toy.shift: expected a finite number, got inf");
  CHECK(error_of("shift = -nan") == "x.toml: toy.shift: expected a finite number, got nan");
  CHECK(error_of("enabled = nan") == "x.toml: toy.enabled: expected true or false, got nan");
  CHECK(error_of("mode = inf") == "x.toml: toy.mode: expected a string, got inf");
  // an integer is a number: 3 is read as 3.0
  auto c = parse_config("shift = -3", "x.toml");
  CHECK(read_params<Toy>(c.root, c.path, "toy").shift == -3.0);
}

TEST_CASE("config: wrong types name the key and what was found") {
  CHECK(error_of("c_F = '1e-15'") == "x.toml: toy.c_F: expected a number, got \"1e-15\"");
  CHECK(error_of("c_F = true") == "x.toml: toy.c_F: expected a number, got true");
  CHECK(error_of("c_F = [1e-15]") == "x.toml: toy.c_F: expected a number, got an array");
  CHECK(error_of("c_F = {v = 1e-15}") == "x.toml: toy.c_F: expected a number, got a table");
  CHECK(error_of("c_F = 1979-05-27") == "x.toml: toy.c_F: expected a number, got a date");
  CHECK(error_of("bits = '8'") == "x.toml: toy.bits: expected an integer, got \"8\"");
  CHECK(error_of("bits = true") == "x.toml: toy.bits: expected an integer, got true");
  CHECK(error_of("bits = [8]") == "x.toml: toy.bits: expected an integer, got an array");
  CHECK(error_of("enabled = 1") == "x.toml: toy.enabled: expected true or false, got 1");
  CHECK(error_of("enabled = 'yes'") == "x.toml: toy.enabled: expected true or false, got \"yes\"");
  CHECK(error_of("mode = 3") == "x.toml: toy.mode: expected a string, got 3");
  CHECK(error_of("mode = ['qs']") == "x.toml: toy.mode: expected a string, got an array");
  CHECK(error_of("[mode]\nx = 1") == "x.toml: toy.mode: expected a string, got a table");
  CHECK(error_of("mode = ''") == "x.toml: parameter 'toy.mode' = \"\": must be one of qs|is|qr");
}

TEST_CASE("config: describe() keeps a string value on one line") {
  auto c = parse_config("s = \"a\\nb\\\"c\"\nlong = '" + std::string(50, 'x') + "'", "x.toml");
  CHECK(describe(*c.root.get("s")) == "\"a\\x0ab\\\"c\"");
  CHECK(describe(*c.root.get("long")) == "\"" + std::string(40, 'x') + "...\"");
}

TEST_CASE("config: sweep axes hold finite numbers") {
  auto numbers = [](const std::string& toml) -> std::string {
    try {
      auto c = parse_config(toml, "x.toml");
      auto v = get_numbers(*c.root.get("a"), c.path, "sweep.a");
      std::string s;
      for (double x : v) s += (s.empty() ? "" : ",") + to_str(x);
      return s;
    } catch (const Error& e) {
      return e.what();
    }
  };
  CHECK(numbers("a = [1, 2.5]") == "1,2.5");
  CHECK(numbers("a = 4") == "4");
  CHECK(numbers("a = []") == "x.toml: sweep.a: empty array: a sweep axis needs at least one value");
  CHECK(numbers("a = [1, nan]") == "x.toml: sweep.a: expected a finite number, got nan");
  CHECK(numbers("a = -inf") == "x.toml: sweep.a: expected a finite number, got -inf");
  CHECK(numbers("a = [1, '2']") == "x.toml: sweep.a: expected an array of numbers, got \"2\" in it");
  CHECK(numbers("a = [true]") == "x.toml: sweep.a: expected an array of numbers, got true in it");
  CHECK(numbers("a = [[1]]") == "x.toml: sweep.a: expected an array of numbers, got an array in it");
  CHECK(numbers("a = 'x'") == "x.toml: sweep.a: expected a number or an array of numbers, got \"x\"");
  CHECK(numbers("a = {b = 1}") == "x.toml: sweep.a: expected a number or an array of numbers, got a table");
}

TEST_CASE("config: missing file and directory are one-line errors naming the path") {
  auto error_loading = [](const std::string& path) -> std::string {
    try {
      load_config(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  CHECK(error_loading("/nonexistent/c.toml") ==
        "/nonexistent/c.toml: cannot open config file: No such file or directory");
  CHECK(error_loading("/") == "/: cannot read config file: is a directory");
}

TEST_CASE("params: validate() rejects non-finite numbers whatever the range") {
  Toy t;
  t.shift = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(validate(t, "toy"), "parameter 'toy.shift' = inf: must be a finite number", Error);
  t = Toy{};
  t.c_F = std::numeric_limits<double>::infinity();  // inside (0, inf] but still no capacitance
  CHECK_THROWS_WITH_AS(validate(t, "toy"), "parameter 'toy.c_F' = inf: must be a finite number", Error);
  t = Toy{};
  t.c_F = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(validate(t, "toy"), "parameter 'toy.c_F' = nan: must be a finite number", Error);
}

TEST_CASE("params: set_param rejects values the member cannot hold") {
  Toy t;
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(set_param(t, "bits", 4294967304.0),
                       "parameter 'bits' = 4294967304: must be in [-2147483648, 2147483647]", Error);
  CHECK_THROWS_WITH_AS(set_param(t, "offset", -2147483649.0),
                       "parameter 'offset' = -2147483649: must be in [-2147483648, 2147483647]", Error);
  CHECK_THROWS_WITH_AS(set_param(t, "bits", nan), "parameter 'bits' = nan: must be a finite number", Error);
  CHECK_THROWS_WITH_AS(set_param(t, "bits", inf), "parameter 'bits' = inf: must be a finite number", Error);
  CHECK_THROWS_WITH_AS(set_param(t, "c_F", -inf), "parameter 'c_F' = -inf: must be a finite number", Error);
  CHECK_THROWS_WITH_AS(set_param(t, "enabled", 0.5), "parameter 'enabled' = 0.5: must be 0 or 1 (a flag)", Error);
  CHECK_THROWS_WITH_AS(set_param(t, "enabled", nan), "parameter 'enabled' = nan: must be a finite number", Error);
  CHECK(t.bits == 8);  // nothing was changed by the failed calls
  CHECK(t.enabled);
  CHECK(set_param(t, "offset", -2147483648.0));
  CHECK(t.offset == -2147483647 - 1);
  CHECK(set_param(t, "enabled", 0.0));
  CHECK_FALSE(t.enabled);
  CHECK_FALSE(set_param(t, "mode", 1.0));  // strings are not numeric parameters
}

TEST_CASE("params: set by name and markdown table") {
  Toy t;
  CHECK(set_param(t, "bits", 6));
  CHECK(t.bits == 6);
  CHECK_FALSE(set_param(t, "nope", 1));
  CHECK_THROWS_AS(set_param(t, "bits", 6.5), Error);
  auto md = markdown_table<Toy>();
  CHECK(md.find("| `c_F` | 1e-15 | F |") != std::string::npos);
}

TEST_CASE("config: nearest key suggestion") {
  CHECK(nearest("sigma_prog", {"sigma_program", "g_max_S"}) == "sigma_program");
  CHECK(nearest("zzzzzzzzzz", {"a", "b"}) == "");
}
