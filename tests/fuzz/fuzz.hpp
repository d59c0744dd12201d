#pragma once
/// The seeded mutation fuzzer (tests/fuzz/README.md): a target turns a deterministic random stream
/// into one input directory (generate) and feeds it to a parser (execute, in a forked child). The
/// contract every parser must keep: return, or throw aimc::Error; anything else is a finding.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace aimc::fuzz {

namespace fs = std::filesystem;

/// splitmix64 (Steele, Lea & Flood 2014): tiny, portable, and the same sequence on every compiler,
/// so input i of a target is a pure function of (seed, target, i).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n) (n = 0 gives 0); the modulo bias is irrelevant for fuzzing.
  std::size_t below(std::size_t n) { return n ? std::size_t(next() % n) : 0; }
  bool chance(double p) { return double(next() >> 11) * 0x1.0p-53 < p; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }

 private:
  std::uint64_t s_;
};

using Bytes = std::string;
Bytes read_file(const fs::path& p);
void write_file(const fs::path& p, const Bytes& b);

/// Tokens that break naive parsers: integer overflow at 2^31, 2^32, 2^63 and 2^64, NaN and infinities,
/// denormals, empty and very long strings, wrong TOML types.
const std::vector<std::string>& nasty_toml_values();
/// Numbers for binary fields and HDF5 attributes.
const std::vector<std::int64_t>& nasty_ints();
const std::vector<double>& nasty_doubles();
/// Strings for HDF5 string attributes and datasets (`extra` adds target-specific valid words).
std::vector<std::string> nasty_strings(const std::vector<std::string>& extra = {});

/// 1..`max_ops` byte-level mutations: bit flips, byte sets, truncation, insertion of random bytes or of
/// `tokens`, deletion, duplication of a block.
void mutate_bytes(Rng& rng, Bytes& b, const std::vector<std::string>& tokens, int max_ops = 4);

/// Gzip (RFC 1952) compression of `b` with zlib, level 1..9.
Bytes gzip(const Bytes& b, int level = 6);

/// Raised by a target's execute() for a violated contract that is not a crash (e.g. a process-level
/// run that exits with an internal error).
struct Finding : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Env {
  fs::path source_dir;  ///< repository root (configs/, tests/fuzz/corpus/)
  fs::path corpus;      ///< tests/fuzz/corpus
  fs::path work;        ///< scratch: baseline files made by setup()
  fs::path aimc;        ///< the aimc CLI (process-level targets)
};

/// One fuzz target. generate() writes `dir/input.<ext>` (plus any companion files) from the stream;
/// execute() parses `dir/input.<ext>` and returns or throws. A target with `argv` is run as a separate
/// process instead (exit 0 or 1 is fine, exit 3 "internal error" or a sanitizer report is a finding).
struct Target {
  std::string name, ext, what;
  std::function<void(const Env&)> setup;
  std::function<void(Rng&, const fs::path& dir)> generate;
  std::function<void(const fs::path& input)> execute;
  std::function<std::vector<std::string>(const fs::path& input)> argv;
};

Target config_target();
Target journal_target();
Target idx_target();
Target array_target();
Target model_target();
Target h5read_target();
Target resume_target();
Target onnx_target();

/// HDF5 mutations written through the HDF5 C API (wrong shapes, dtypes, missing or retyped attributes,
/// NaN values, huge declared dimensions, links in place of objects). `words` are valid string values
/// worth trying ("aimc-model", "dense", ...). Returns a short description of what was done.
std::string mutate_hdf5(Rng& rng, const fs::path& file, const std::vector<std::string>& words);

}  // namespace aimc::fuzz
