// IDX dataset files, plain and gzip-compressed (data/idx.hpp, data/fashion_mnist.hpp).
#include <algorithm>

#include "core/error.hpp"
#include "data/fashion_mnist.hpp"
#include "data/idx.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace aimc::fuzz {
namespace {

std::vector<Bytes> g_idx;  // seed files (plain or gzip)

void put32(Bytes& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + std::size_t(i)] = char((v >> (8 * (3 - i))) & 0xff);
}

/// A valid IDX file: rank 1 (labels) or 3 (images) with small dimensions.
Bytes make_idx(Rng& rng, int rank) {
  std::vector<std::uint32_t> dims(static_cast<std::size_t>(rank));
  for (auto& d : dims) d = 1 + std::uint32_t(rng.below(5));
  if (rank == 3 && rng.chance(0.5)) dims[1] = dims[2] = 28;
  Bytes b(4 + 4 * std::size_t(rank), '\0');
  b[2] = 0x08;
  b[3] = char(rank);
  std::size_t n = 1;
  for (int i = 0; i < rank; ++i) {
    put32(b, 4 + 4 * std::size_t(i), dims[std::size_t(i)]);
    n *= dims[std::size_t(i)];
  }
  for (std::size_t i = 0; i < n; ++i) b.push_back(char(rng.below(rank == 1 ? 12 : 256)));
  return b;
}

void generate_idx(Rng& rng, const fs::path& dir) {
  Bytes b;
  const bool from_seed = rng.chance(0.3) && !g_idx.empty();
  if (from_seed) {
    b = rng.pick(g_idx);
  } else {
    const int rank = rng.chance(0.5) ? 1 : 3;
    b = make_idx(rng, rank);
    switch (rng.below(5)) {  // structure-aware: the header fields
      case 0:
        put32(b, 4 + 4 * rng.below(std::size_t(rank)), std::uint32_t(rng.pick(nasty_ints())));
        break;
      case 1:
        b[rng.below(4)] = char(rng.pick(std::vector<int>{0, 1, 3, 8, 9, 0x0d, 0xff, 255}));
        break;
      case 2:
        b.resize(rng.below(b.size() + 1));
        break;
      case 3:
        b.append(1 + rng.below(8), char(rng.below(256)));
        break;
      default:
        break;
    }
  }
  if (rng.chance(0.3)) mutate_bytes(rng, b, {std::string(4, '\xff'), std::string(4, '\0'), "\x1f\x8b"});
  if (!from_seed && rng.chance(0.5)) {
    b = gzip(b, 1 + int(rng.below(9)));
    if (rng.chance(0.3)) b += rng.chance(0.5) ? gzip(Bytes(1 + rng.below(9), 'x')) : Bytes("garbage");
    if (rng.chance(0.4)) mutate_bytes(rng, b, {"\x1f\x8b\x08", std::string(8, '\0')}, 2);
  }
  write_file(dir / "input.idx", b);
}

void execute_idx(const fs::path& input) {
  const std::string p = input.string();
  for (int rank : {1, 3, 2, 0, 256}) {
    try {
      (void)data::read_idx(p, rank);
    } catch (const Error&) {
    }
  }
  try {
    (void)data::read_idx_labels(p);
  } catch (const Error&) {
  }
  try {
    (void)data::read_idx_images(p);
  } catch (const Error&) {
  }
  // The Fashion-MNIST loader on a directory where this file is the test images and the labels.
  const fs::path d = input.parent_path() / "fmnist";
  fs::create_directories(d);
  for (const char* name : {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
    fs::remove(d / name);
    fs::create_symlink(input, d / name);
  }
  (void)data::load_fashion_mnist("test", d.string());
}

}  // namespace

Target idx_target() {
  Target t;
  t.name = "idx";
  t.ext = "idx";
  t.what = "data::read_idx / read_idx_images / read_idx_labels / load_fashion_mnist (plain and .gz)";
  t.setup = [](const Env& env) {
    if (!g_idx.empty() || !fs::is_directory(env.corpus / "idx")) return;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(env.corpus / "idx")) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) g_idx.push_back(read_file(f));
  };
  t.generate = generate_idx;
  t.execute = execute_idx;
  return t;
}

}  // namespace aimc::fuzz
