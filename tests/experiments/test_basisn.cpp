// `aimc basisn` as a library call (experiments/basisn.hpp) on a tiny study (the MLP of
// tests/common/model_helpers.hpp, a dataset file, a 16 x 12 basis, 3 chips at 2 sweep points): the file
// holds every dataset of the documented schema (docs/results.md "aimc-basisn"); the summaries equal the
// mean and Student-t CI recomputed here from the per-chip records (core/stats.hpp); the digital accuracies
// equal nets::evaluate of the two models; the cost tables equal devices::standard_cost / basisn_cost of
// the work rebuilt from /layers; the zero-variation chips of an ideal readout equal the digital accuracy;
// a stopped run resumed and a rerun with --resume give bit-identical records; 1 and 2 threads too.
// The one-line CLI form of the config errors: tests/experiments/test_cli_errors.sh.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "../data/helpers.hpp"
#include "core/hdf5io.hpp"
#include "core/params.hpp"
#include "core/stats.hpp"
#include "data/fashion_mnist.hpp"
#include "devices/xbar_cost.hpp"
#include "experiments/basisn.hpp"
#include "nets/mitigation.hpp"
#include "nets/model_io.hpp"
#include "nets/network.hpp"
#include "nets/train.hpp"
#include "tests/common/layer_helpers.hpp"
#include "tests/common/model_helpers.hpp"

using namespace aimc;
using namespace aimc::experiments;

namespace {

constexpr int kL = 16, kM = 12, kTrials = 3, kSubset = 100, kTileRows = 64, kTileCols = 32;
const std::vector<long long> kNXbar = {1, 2, 4, 200};
const std::vector<double> kSigma = {0.0, 0.1};
constexpr const char* kVariants[] = {"standard", "basisn"};

std::string study_config(const std::string& model, const std::string& data) {
  return "[model]\npath = \"" + model + "\"\n[data]\ndataset = \"file\"\npath = \"" + data +
         "\"\nsubset = 100\ncalibration = 32\n[mapping]\nsubstrate = \"rram\"\nreadout = \"ideal\"\n"
         "tile_rows = 64\ntile_cols = 32\n"
         "[basisn]\nlength = 16\nsize = 12\ntrain_images = 200\nrounds = 1\ncoeff_epochs = 1\nbasis_epochs = 1\n"
         "qat_epochs = 1\ncoeff_bits = 4\nbatch = 50\nn_xbar = \"1,2,4,200\"\n"
         "[xbar_cost]\nbatch = 4\ndigital_lanes = 64\n"
         "[mc]\ntrials = 3\nseed = 3\n[sweep]\n\"rram.sigma_prog\" = [0.0, 0.1]\n";
}

/// The cost parameters the config above resolves to, built here from the documented rule: the table's
/// defaults, the [xbar_cost] keys of the config, the crossbar of [mapping] and the coefficients of [basisn].
devices::XbarCostParams expected_cost_params() {
  devices::XbarCostParams p;
  p.batch = 4;
  p.digital_lanes = 64;
  p.xbar_rows = kTileRows;
  p.xbar_cols = kTileCols;
  p.coefficients = "pow2";
  return p;
}

int run_quiet(const std::string& config, const std::string& out, bool resume = false, bool force = false) {
  BasisnOptions o;
  o.config = config;
  o.out = out;
  o.resume = resume;
  o.force = force;
  o.progress = false;
  o.quiet = true;
  return run_basisn(o);
}

std::vector<std::uint64_t> bits_of(const std::vector<double>& x) {
  std::vector<std::uint64_t> b;
  for (double d : x) b.push_back(std::bit_cast<std::uint64_t>(d));
  return b;
}

/// The per-chip records of both variants at every point as bit patterns (NaN-safe), with done flags.
struct Records {
  std::vector<std::vector<std::uint64_t>> v;
  std::vector<std::vector<std::int64_t>> i;
  bool operator==(const Records&) const = default;
};
Records records(const std::string& path) {
  Records r;
  H5::H5File f(path, H5F_ACC_RDONLY);
  for (const char* v : kVariants)
    for (const char* p : {"p0000", "p0001"}) {
      const H5::Group g = f.openGroup(std::string("variants/") + v + "/points/" + p);
      for (const char* d : {"accuracy", "loss"}) r.v.push_back(bits_of(h5::read_doubles(g, d, path)));
      r.i.push_back(h5::read_ints(g, "done", path));
    }
  return r;
}

/// The trained BasisN model as the study records it: basis and clean accuracies, and with `log` the
/// training log (empty in a file whose run reused the model file, as on --resume).
std::vector<std::uint64_t> trained(const std::string& path, bool log) {
  H5::H5File f(path, H5F_ACC_RDONLY);
  const MatrixD b = h5::read_matrixd(f.openGroup("layers"), "basis", path);
  std::vector<double> x(b.data(), b.data() + b.size());
  for (const char* d : {"loss", "train_accuracy"})
    if (log)
      for (double v : h5::read_doubles(f.openGroup("training"), d, path)) x.push_back(v);
  for (const char* v : kVariants)
    x.push_back(h5::attr_double(f.openGroup(std::string("variants/") + v), "digital_accuracy", path));
  return bits_of(x);
}

}  // namespace

TEST_CASE("basisn command: a tiny study writes the documented schema and its summaries and costs check out") {
  test::ScratchDir dir("basisn-run");
  const std::string data = test::small_dataset(dir, 1000, 200);
  const std::string model = test::small_mlp_model(dir.file("mlp.h5"), 1, 500);
  test::write_text(dir.file("c.toml"), study_config(model, data));
  const std::string out = dir.file("r.h5");
  REQUIRE(run_quiet(dir.file("c.toml"), out) == 0);
  const std::string stage = dir.file("r.basisn.h5");
  REQUIRE(std::filesystem::exists(stage));

  H5::H5File f(out, H5F_ACC_RDONLY);
  const H5::Group root = f.openGroup("/");
  CHECK(h5::attr_string(root, "format", out) == "aimc-basisn");
  CHECK(h5::attr_int(root, "format_version", out) == 1);
  CHECK(h5::attr_string(root, "status", out) == "complete");
  CHECK(h5::attr_int(root, "trials", out) == kTrials);
  CHECK(h5::attr_int(root, "points", out) == 2);

  // Every dataset of the schema, with its documented length.
  const std::size_t T = kTrials, P = kSigma.size(), X = kNXbar.size();
  CHECK(h5::read_strings(root, "config", out).size() == 1);
  CHECK(h5::read_ints(f.openGroup("trial_keys"), "program", out).size() == T);
  CHECK(h5::read_ints(f.openGroup("trial_keys"), "read", out).size() == T);
  CHECK(h5::read_strings(f.openGroup("sweep"), "axes", out) == std::vector<std::string>{"rram.sigma_prog"});
  CHECK(h5::read_doubles(f.openGroup("sweep"), "rram.sigma_prog", out) == kSigma);
  const H5::Group lg = f.openGroup("layers");
  const auto names = h5::read_strings(lg, "name", out);
  const auto rows = h5::read_ints(lg, "rows", out), cols = h5::read_ints(lg, "cols", out);
  const auto pos = h5::read_ints(lg, "positions", out), seg = h5::read_ints(lg, "segments", out);
  const auto fit = h5::read_doubles(lg, "fit_error", out);
  // The MLP 784-256-128-10, every Dense layer converted (layers = "all"): K, N, one position each, and
  // S = ceil(K / L) basis vectors per input vector.
  REQUIRE(names.size() == 3);
  CHECK(rows == std::vector<std::int64_t>{784, 256, 128});
  CHECK(cols == std::vector<std::int64_t>{256, 128, 10});
  CHECK(pos == std::vector<std::int64_t>{1, 1, 1});
  CHECK(seg == std::vector<std::int64_t>{49, 16, 8});
  REQUIRE(fit.size() == 3);
  for (double e : fit) CHECK((e >= 0 && e < 1));  // a rank-12 fit of 16-vectors leaves part of W
  const MatrixD basis = h5::read_matrixd(lg, "basis", out);
  CHECK(basis.rows() == kL);
  CHECK(basis.cols() == kM);
  const H5::Group tg = f.openGroup("training");
  const auto phase = h5::read_strings(tg, "phase", out);
  CHECK(phase == std::vector<std::string>{"coefficients", "basis", "qat"});
  CHECK(h5::read_ints(tg, "epoch", out).size() == 3);
  for (const char* d : {"loss", "train_accuracy", "lr"}) CHECK(h5::read_doubles(tg, d, out).size() == 3);

  // Summaries: mean, SD and Student-t CI of the done chips, recomputed (core/stats.hpp).
  const double confidence = 0.95;
  for (const char* v : kVariants) {
    CAPTURE(v);
    const H5::Group g = f.openGroup(std::string("variants/") + v);
    for (const char* a : {"model_file", "parameters", "macs", "analog_macs", "digital_macs", "digital_accuracy"})
      CHECK(h5::has_attr(g, a));
    const H5::Group sm = g.openGroup("summary");
    CHECK(h5::attr_double(sm, "confidence", out) == confidence);
    const auto n = h5::read_ints(sm, "trials", out);
    const auto mean = h5::read_doubles(sm, "accuracy_mean", out), sd = h5::read_doubles(sm, "accuracy_std", out);
    const auto lo = h5::read_doubles(sm, "accuracy_ci_lo", out), hi = h5::read_doubles(sm, "accuracy_ci_hi", out);
    REQUIRE(n.size() == P);
    REQUIRE(mean.size() == P);
    REQUIRE(sd.size() == P);
    REQUIRE(lo.size() == P);
    REQUIRE(hi.size() == P);
    for (std::size_t p = 0; p < P; ++p) {
      CAPTURE(p);
      const H5::Group pg = g.openGroup("points/p000" + std::to_string(p));
      CHECK(h5::attr_double(pg, "rram.sigma_prog", out) == kSigma[p]);
      const auto acc = h5::read_doubles(pg, "accuracy", out), loss = h5::read_doubles(pg, "loss", out);
      const auto done = h5::read_ints(pg, "done", out);
      REQUIRE(acc.size() == T);
      CHECK(loss.size() == T);
      CHECK(done == std::vector<std::int64_t>(T, 1));
      double sum = 0;
      for (double x : acc) {
        CHECK((x >= 0 && x <= 1));
        sum += x;
      }
      double ss = 0;
      for (double x : acc) ss += (x - sum / double(T)) * (x - sum / double(T));
      const stats::Interval ci = stats::mean_ci(acc, confidence);
      CHECK(n[p] == kTrials);
      CHECK(mean[p] == doctest::Approx(sum / double(T)).epsilon(1e-12));
      CHECK(sd[p] == doctest::Approx(std::sqrt(ss / double(T - 1))).epsilon(1e-12));
      CHECK(lo[p] == doctest::Approx(ci.lo).epsilon(1e-12));
      CHECK(hi[p] == doctest::Approx(ci.hi).epsilon(1e-12));
    }
  }

  // Digital accuracy: both model files evaluated here on the same 100 test images (the MLP has no
  // BatchNorm, so the standard model runs as stored).
  const auto test_set = data::load_fashion_mnist("test", "").head(kSubset);
  auto std_model = nets::load_model(model);
  auto bn_model = nets::load_model(stage);
  const double clean_std = nets::evaluate(std_model.net, test_set).accuracy;
  const double clean_bn = nets::evaluate(bn_model.net, test_set).accuracy;
  const H5::Group vs = f.openGroup("variants/standard"), vb = f.openGroup("variants/basisn");
  CHECK(h5::attr_double(vs, "digital_accuracy", out) == clean_std);
  CHECK(h5::attr_double(vb, "digital_accuracy", out) == clean_bn);
  CHECK(h5::attr_string(vb, "model_file", out) == stage);
  CHECK(h5::attr_int(vs, "parameters", out) == nets::parameter_count(std_model.net));
  CHECK(h5::attr_int(vb, "parameters", out) == nets::parameter_count(bn_model.net));
  CHECK(h5::attr_int(vs, "digital_macs", out) == 0);
  CHECK(h5::attr_int(vs, "analog_macs", out) == 784 * 256 + 256 * 128 + 128 * 10);
  // BasisN: crossbar MACs S L M per input vector, digital MACs S M N (the coefficient combination).
  long long analog = 0, digital = 0;
  for (std::size_t l = 0; l < 3; ++l) {
    analog += seg[l] * kL * kM;
    digital += seg[l] * kM * cols[l];
  }
  CHECK(h5::attr_int(vb, "analog_macs", out) == analog);
  CHECK(h5::attr_int(vb, "digital_macs", out) == digital);

  // Zero programming variation with an ideal readout: every chip of both variants reads the digital model.
  for (const char* v : kVariants) {
    CAPTURE(v);
    const double clean = std::string(v) == "standard" ? clean_std : clean_bn;
    for (double a : h5::read_doubles(f.openGroup(std::string("variants/") + v + "/points/p0000"), "accuracy", out))
      CHECK(a == clean);
  }

  // Resolved cost parameters, and the cost tables recomputed from /layers with them.
  const devices::XbarCostParams cp = expected_cost_params();
  const H5::Group res = f.openGroup("resolved");
  for (const auto& p : devices::XbarCostParams::params()) {
    CAPTURE(p.name);
    CHECK(h5::attr_string(res, "xbar_cost." + std::string(p.name), out) == param_text(cp, p));
  }
  CHECK(h5::attr_string(res, "basisn.length", out) == "16");
  CHECK(h5::attr_string(res, "basisn.n_xbar", out) == "1,2,4,200");
  std::vector<devices::LayerWork> work;
  for (std::size_t l = 0; l < names.size(); ++l) {
    devices::LayerWork w;
    w.name = names[l];
    w.rows = rows[l];
    w.cols = cols[l];
    w.mvms = pos[l];
    w.segments = seg[l];
    w.coeff_macs = pos[l] * seg[l] * kM * cols[l];
    work.push_back(w);
  }
  CHECK(h5::attr_int(root, "standard_crossbars", out) == devices::standard_crossbars(work, cp));
  CHECK(h5::attr_int(root, "basis_crossbars", out) == devices::crossbars_for(kL, kM, cp));
  // ceil(K / 64) ceil(N / 32) crossbars per layer: 13 x 8 + 4 x 4 + 2 x 1 = 122; 1, 2 and 4 reprogram, 200 fits.
  CHECK(devices::standard_crossbars(work, cp) == 13 * 8 + 4 * 4 + 2 * 1);
  const H5::Group cg = f.openGroup("cost");
  const auto nx = h5::read_ints(cg, "n_xbar", out);
  REQUIRE(nx.size() == X);
  long long crossover = -1;
  for (std::size_t k = 0; k < X; ++k) {
    CHECK(nx[k] == kNXbar[k]);
    const devices::CostResult s = devices::standard_cost(work, cp, kNXbar[k]);
    const devices::CostResult b = devices::basisn_cost(work, {kL, kM}, cp, kNXbar[k]);
    if (crossover < 0 && s.feasible && (!b.feasible || s.edp_Js < b.edp_Js)) crossover = kNXbar[k];
  }
  CHECK(h5::attr_int(root, "crossover_n_xbar", out) == crossover);
  for (const char* design : kVariants) {
    CAPTURE(design);
    const H5::Group g = cg.openGroup(design);
    const bool is_bn = std::string(design) == "basisn";
    std::vector<devices::CostResult> want;
    for (long long n : kNXbar)
      want.push_back(is_bn ? devices::basisn_cost(work, {kL, kM}, cp, n) : devices::standard_cost(work, cp, n));
    const auto mapping = h5::read_strings(g, "mapping", out);
    const auto feasible = h5::read_ints(g, "feasible", out), used = h5::read_ints(g, "crossbars_used", out);
    REQUIRE(mapping.size() == X);
    REQUIRE(feasible.size() == X);
    REQUIRE(used.size() == X);
    const std::pair<const char*, double devices::CostResult::*> fields[] = {
        {"cycles", &devices::CostResult::cycles},
        {"latency", &devices::CostResult::latency_s},
        {"energy", &devices::CostResult::energy_J},
        {"edp", &devices::CostResult::edp_Js},
        {"write_energy", &devices::CostResult::write_energy_J},
        {"write_time", &devices::CostResult::write_time_s},
        {"analog_energy", &devices::CostResult::analog_energy_J},
        {"digital_energy", &devices::CostResult::digital_energy_J},
        {"one_time_write_energy", &devices::CostResult::one_time_write_energy_J}};
    for (std::size_t k = 0; k < X; ++k) {
      CAPTURE(k);
      CHECK(mapping[k] == want[k].mapping);
      CHECK(feasible[k] == std::int64_t(want[k].feasible));
      CHECK(used[k] == want[k].crossbars_used);
    }
    for (const auto& [name, member] : fields) {
      CAPTURE(name);
      const auto got = h5::read_doubles(g, name, out);
      REQUIRE(got.size() == X);
      for (std::size_t k = 0; k < X; ++k) CHECK(got[k] == want[k].*member);
    }
    if (!is_bn) CHECK(mapping == std::vector<std::string>{"reprogram", "reprogram", "reprogram", "standard"});
  }

  // A rerun with --resume reuses the model and the records: bit-identical records.
  const Records a = records(out);
  const std::string out2 = dir.file("copy.h5");
  std::filesystem::copy_file(out, out2);
  std::filesystem::copy_file(stage, dir.file("copy.basisn.h5"));
  REQUIRE(run_quiet(dir.file("c.toml"), out2, true) == 0);
  CHECK(records(out2) == a);
  // Without --resume or --force an existing run is not touched.
  const auto bytes = test::read_bytes(out);
  CHECK(test::error_of([&] { run_quiet(dir.file("c.toml"), out); }).find("--resume") != std::string::npos);
  CHECK(test::read_bytes(out) == bytes);
}

TEST_CASE("basisn command: a run stopped after some chips and resumed equals an uninterrupted one") {
  test::ScratchDir dir("basisn-resume");
  const std::string data = test::small_dataset(dir, 1000, 200);
  const std::string model = test::small_mlp_model(dir.file("mlp.h5"), 1, 500);
  test::write_text(dir.file("c.toml"), study_config(model, data));
  const std::string full = dir.file("full.h5"), part = dir.file("part.h5");
  {
    test::Threads t(1);
    REQUIRE(run_quiet(dir.file("c.toml"), full) == 0);
  }
  {
    // 2 variants x 2 points x 3 chips = 12 jobs; one thread stops after exactly 5.
    test::Threads t(1);
    test::ScopedEnv stop("AIMC_STOP_AFTER_JOBS", "5");
    CHECK_THROWS_AS(run_quiet(dir.file("c.toml"), part), Error);
  }
  REQUIRE(std::filesystem::exists(part));
  {
    H5::H5File f(part, H5F_ACC_RDONLY);
    long long done = 0;
    for (const char* v : kVariants)
      for (const char* p : {"p0000", "p0001"})
        for (auto d : h5::read_ints(f.openGroup(std::string("variants/") + v + "/points/" + p), "done", part)) done += d;
    CHECK(done < 12);  // the stop left records to run (the test's power depends on it)
  }
  REQUIRE(run_quiet(dir.file("c.toml"), part, true) == 0);
  CHECK(records(part) == records(full));
  CHECK(trained(part, false) == trained(full, false));
}

TEST_CASE("basisn command: 1 thread and 2 threads give bit-identical records and training") {
  test::ScratchDir dir("basisn-threads");
  const std::string data = test::small_dataset(dir, 1000, 200);
  const std::string model = test::small_mlp_model(dir.file("mlp.h5"), 1, 500);
  test::write_text(dir.file("c.toml"), study_config(model, data));
  const std::string one = dir.file("one.h5"), two = dir.file("two.h5");
  {
    test::Threads t(1);
    REQUIRE(run_quiet(dir.file("c.toml"), one) == 0);
  }
  {
    test::Threads t(2);
    REQUIRE(run_quiet(dir.file("c.toml"), two) == 0);
  }
  CHECK(records(one) == records(two));
  CHECK(trained(one, true) == trained(two, true));
}
