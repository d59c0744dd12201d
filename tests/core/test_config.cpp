#include <doctest/doctest.h>

#include <span>

#include "core/config.hpp"

using namespace aimc;

namespace {
struct Toy {
  double c_F = 1e-15;
  int bits = 8;
  bool enabled = true;
  std::string mode = "qs";
  static std::span<const Param<Toy>> params() {
    static const Param<Toy> p[] = {
        {"c_F", &Toy::c_F, "F", "a capacitance", "test", positive()},
        {"bits", &Toy::bits, "1", "a precision", "test", between(1, 16)},
        {"enabled", &Toy::enabled, "", "a flag", "test"},
        {"mode", &Toy::mode, "", "a choice", "test", {}, {"qs", "is", "qr"}},
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
  CHECK(error_of("bits = 2.5") == "x.toml: toy.bits: expected an integer");
  CHECK(error_of("mode = 'xx'") == "x.toml: parameter 'toy.mode' = \"xx\": must be one of qs|is|qr");
  CHECK(error_of("bits = 14") == "x.toml: parameter 'bits' = 14: qs allows at most 12");
  CHECK(error_of("bits = [") .rfind("x.toml:1:", 0) == 0);
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
