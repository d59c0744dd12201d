// Cross-machine determinism (issue 13): Eigen sizes the depth blocks of a matrix product from the cache
// sizes it reads from the CPU, so without core/numerics.hpp's pinning the same binary computes other
// bits on a machine with other caches. Each case below runs the same computation as if on machines with
// different caches (Eigen::setCpuCacheSizes before the library is used) and with 1 and 2 threads, and
// requires bit-identical outputs. The first case shows that these settings do change a raw Eigen
// product, so the other cases would fail if the library did not pin the blocking (checked by making
// pin_numerics() a no-op: the three library cases fail).
#include <doctest/doctest.h>
#include <omp.h>

#include <Eigen/Core>
#include <cstring>
#include <fstream>
#include <string>

#include "../data/helpers.hpp"
#include "core/hdf5io.hpp"
#include "core/numerics.hpp"
#include "core/random.hpp"
#include "data/synthetic.hpp"
#include "experiments/hardnn.hpp"
#include "experiments/mc.hpp"
#include "nets/model_io.hpp"
#include "nets/network.hpp"
#include "nets/train.hpp"

using namespace aimc;

namespace {

struct Caches {
  std::ptrdiff_t l1, l2, l3;
};
/// Two machines unlike the pinned one and unlike each other: a small-L1 core, and a 32 KiB / 1 MiB /
/// 32 MiB one (the example). Depth blocks for a float product of depth 784: 64 and 264 (400 pinned).
const Caches kMachines[] = {{8 * 1024, 256 * 1024, 2 * 1024 * 1024}, {32 * 1024, 1024 * 1024, 32 * 1024 * 1024}};

/// Runs `f` as if on each machine, with 1 and 2 threads, and returns the byte images of its outputs.
std::vector<std::string> on_every_machine(const std::function<std::string()>& f) {
  std::vector<std::string> out;
  const int saved = omp_get_max_threads();
  for (const auto& m : kMachines)
    for (int threads : {1, 2}) {
      Eigen::setCpuCacheSizes(m.l1, m.l2, m.l3);
      omp_set_num_threads(threads);
      out.push_back(f());
    }
  omp_set_num_threads(saved);
  pin_numerics();
  return out;
}

template <class T>
std::string bytes_of(const T* p, std::size_t n) {
  return std::string(reinterpret_cast<const char*>(p), n * sizeof(T));
}

/// Every double and integer dataset named in `names` of group `group` of an HDF5 file, as bytes.
std::string datasets(const std::string& file, const std::string& group, std::initializer_list<const char*> names) {
  H5::H5File f = h5::open_read(file);
  H5::Group g = h5::open_group(f.openGroup("/"), group, file);
  std::string s;
  for (const char* n : names) {
    const auto v = h5::read_doubles(g, n, file);
    s += bytes_of(v.data(), v.size());
  }
  return s;
}

}  // namespace

TEST_CASE("determinism: the cache sizes Eigen is given change a raw product (the power of the tests below)") {
  Matrix a(100, 784), b(784, 256);
  Stream s(1, "test.determinism");
  s.fill_normal(a, 0.0f, 1.0f);
  s.fill_normal(b, 0.0f, 1.0f);
  std::vector<Matrix> c;
  for (const auto& m : kMachines) {
    Eigen::setCpuCacheSizes(m.l1, m.l2, m.l3);
    c.emplace_back(a * b);
  }
  pin_numerics();
  CHECK(numerics_pinned());
  CHECK(c[0] != c[1]);
  CHECK((c[0] - c[1]).cwiseAbs().maxCoeff() < 1e-3f);  // the same product, other rounding
}

TEST_CASE("determinism: training steps give the same weights on every machine and thread count") {
  data::BlobsParams bp;
  bp.samples = 512;
  bp.features = 784;
  bp.classes = 10;
  Stream ds(4, "test.blobs");
  const auto d = data::make_blobs(bp, ds);
  const auto runs = on_every_machine([&] {
    nets::Network net = nets::make_mlp();
    Stream init(3, "init");
    net.init(init);
    nets::TrainParams tp;
    tp.epochs = 1;
    tp.batch_size = 128;
    tp.seed = 3;
    nets::train(net, d, nullptr, tp, {}, false);
    std::string s;
    for (auto* p : net.parameters()) s += bytes_of(p->value.data(), std::size_t(p->value.size()));
    return s;
  });
  for (std::size_t i = 1; i < runs.size(); ++i) CHECK(runs[i] == runs[0]);
}

TEST_CASE("determinism: an analog Monte Carlo campaign (RRAM, read noise, ADC) is the same on every machine") {
  test::ScratchDir dir("determinism-mc");
  nets::Network net = nets::make_mlp();
  Stream init(3, "init");
  net.init(init);
  const std::string model = dir.file("mlp.h5");
  nets::save_model(model, net, {"mlp", "fashion-mnist", 0, 3, 0.1, 0.0, "", {}});
  const std::string cfg = dir.file("c.toml");
  std::ofstream(cfg) << "[model]\npath = \"" << model
                     << "\"\n[data]\nsubset = 100\ncalibration = 64\n[mc]\ntrials = 2\nseed = 5\nchunk = 50\n"
                        "snr_samples = 100\n[mapping]\ntile_rows = 256\ntile_cols = 128\n[rram]\nsigma_read = 0.02\n"
                        "sigma_prog = 0.05\n[adc]\nbits = 8\n";
  int run = 0;
  const auto runs = on_every_machine([&] {
    const std::string out = dir.file("r" + std::to_string(run++) + ".h5");
    experiments::McOptions o;
    o.config = cfg;
    o.out = out;
    o.progress = false;
    o.quiet = true;
    REQUIRE(experiments::run_mc(o) == 0);
    return datasets(out, "points/p0000", {"accuracy", "loss", "adc_saturated", "snr_db"});
  });
  for (std::size_t i = 1; i < runs.size(); ++i) CHECK(runs[i] == runs[0]);
}

TEST_CASE("determinism: a HarDNN campaign is the same on every machine") {
  test::ScratchDir dir("determinism-hardnn");
  nets::Network net(Shape{1, 28, 28});
  net.add(nets::make_layer({"conv2d", {{"in_c", 1}, {"in_h", 28}, {"in_w", 28}, {"out_c", 4}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}));
  net.add(nets::make_layer({"relu", {{"c", 4}, {"h", 28}, {"w", 28}}}));
  net.add(nets::make_layer({"flatten", {{"c", 4}, {"h", 28}, {"w", 28}}}));
  net.add(nets::make_layer({"dense", {{"in", 3136}, {"out", 10}}}));
  Stream init(9, "init");
  net.init(init);
  const std::string model = dir.file("cnn.h5");
  nets::save_model(model, net, {"tiny_cnn", "fashion-mnist", 0, 9, 0.1, 0.0, "", {}});
  const std::string cfg = dir.file("c.toml");
  std::ofstream(cfg) << "[model]\npath = \"" << model
                     << "\"\n[data]\nsubset = 64\n[hardnn]\nmargin = 0.3\nbatch = 8\nerror_model = \"bitflip_fixed\"\n"
                        "verify_injections = 64\n";
  int run = 0;
  const auto runs = on_every_machine([&] {
    const std::string out = dir.file("h" + std::to_string(run++) + ".h5");
    experiments::HardnnOptions o;
    o.config = cfg;
    o.out = out;
    o.progress = false;
    o.quiet = true;
    REQUIRE(experiments::run_hardnn(o) == 0);
    return datasets(out, "fmaps", {"mismatch_p", "dloss_mean", "vulnerability"}) +
           datasets(out, "heuristics", {"activation", "gradient", "gain"});
  });
  for (std::size_t i = 1; i < runs.size(); ++i) CHECK(runs[i] == runs[0]);
}
