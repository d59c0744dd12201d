// Monte Carlo campaigns (`aimc mc` as a library call): config validation, thread-count determinism of
// the results file, the stopping rule, and bad input that must leave existing results untouched.
// Kill-and-resume and MPI rank-count determinism are process-level: tests/experiments/test_mc_cli.sh.
#include <doctest/doctest.h>
#include <omp.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "../data/helpers.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "core/stats.hpp"
#include "data/fashion_mnist.hpp"
#include "experiments/mc.hpp"
#include "nets/model_io.hpp"
#include "nets/network.hpp"

using namespace aimc;
using namespace aimc::experiments;

namespace {

/// An (untrained, He-initialized) reference MLP saved as a model file: accuracy does not matter for
/// these tests, only that the campaign machinery computes and stores it reproducibly.
std::string make_model(const test::ScratchDir& dir, const std::string& name = "mlp.h5") {
  nets::Network net = nets::make_mlp();
  Stream init(3, "init");
  net.init(init);
  const std::string path = dir.file(name);
  nets::save_model(path, net, {"mlp", "fashion-mnist", 0, 3, 0.1, 0.0, "", {}});
  return path;
}

std::string write_config(const test::ScratchDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.file(name);
  std::ofstream(path) << text;
  return path;
}

std::string campaign(const std::string& model, int trials, const std::string& extra = "") {
  return "[model]\npath = \"" + model + "\"\n[data]\nsubset = 150\ncalibration = 64\n[mc]\ntrials = " +
         std::to_string(trials) + "\nseed = 5\nchunk = 50\n" + extra +
         "[rram]\nsigma_read = 0.02\n[sweep]\n\"rram.sigma_prog\" = [0.0, 0.1]\n\"adc.bits\" = [4, 8]\n";
}

/// The same campaign on PCM (every mechanism on, per-read noise, per-column drift compensation) over
/// two times of inference.
std::string pcm_campaign(const std::string& model, int trials) {
  return "[model]\npath = \"" + model + "\"\n[data]\nsubset = 150\ncalibration = 64\n[mc]\ntrials = " +
         std::to_string(trials) +
         "\nseed = 5\nchunk = 50\n[mapping]\nsubstrate = \"pcm\"\ndrift_compensation = \"column\"\n"
         "[pcm]\nsigma_read = 0.02\n[sweep]\n\"pcm.t_inference_s\" = [1.0, 3.1536e7]\n\"adc.bits\" = [4, 8]\n";
}

std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

int run_quiet(const std::string& cfg, const std::string& out, bool force = false, bool resume = false) {
  McOptions o;
  o.config = cfg;
  o.out = out;
  o.force = force;
  o.resume = resume;
  o.progress = false;
  o.quiet = true;
  return run_mc(o);
}

struct PointData {
  std::vector<double> accuracy, loss, sat;
  MatrixD snr;
  std::vector<std::int64_t> done;
  bool operator==(const PointData& o) const {
    // NaN-aware exact comparison (bit-identical values, NaN where not run).
    auto same = [](const std::vector<double>& a, const std::vector<double>& b) {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i)
        if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
      return true;
    };
    auto same_m = [&](const MatrixD& a, const MatrixD& b) {
      return a.rows() == b.rows() && a.cols() == b.cols() &&
             same({a.data(), a.data() + a.size()}, {b.data(), b.data() + b.size()});
    };
    return same(accuracy, o.accuracy) && same(loss, o.loss) && same(sat, o.sat) && same_m(snr, o.snr) && done == o.done;
  }
};

std::vector<PointData> read_points(const std::string& path) {
  H5::H5File f = h5::open_read(path);
  H5::Group root = f.openGroup("/");
  H5::Group pts = h5::open_group(root, "points", path);
  std::vector<PointData> out;
  const auto n = h5::attr_int(root, "points", path);
  for (int p = 0; p < n; ++p) {
    char name[16];
    std::snprintf(name, sizeof name, "p%04d", p);
    H5::Group g = h5::open_group(pts, name, path);
    out.push_back({h5::read_doubles(g, "accuracy", path), h5::read_doubles(g, "loss", path),
                   h5::read_doubles(g, "adc_saturated", path), h5::read_matrixd(g, "snr_db", path),
                   h5::read_ints(g, "done", path)});
  }
  return out;
}

}  // namespace

TEST_CASE("mc config: every key is checked, errors name the file and key") {
  test::ScratchDir dir("mc-config");
  const std::string model = make_model(dir);
  auto parse = [&](const std::string& text) { return parse_mc_config(parse_config(text, "c.toml")); };
  const McConfig c = parse(campaign(model, 4));
  CHECK(c.points() == 4);
  CHECK(c.sweep.size() == 2);
  CHECK(c.sweep[0].key == "adc.bits");  // axes in key order, last fastest
  CHECK(c.values_at(1) == std::vector<double>{4, 0.1});
  CHECK(c.analog_at(3).rram.sigma_prog == 0.1);
  CHECK(c.analog_at(3).adc.bits == 8);

  std::string e = error_of([&] { parse("[model]\npath = \"m.h5\"\n[rram]\nsigma_prgo = 0.1\n"); });
  CHECK(e.find("c.toml") != std::string::npos);
  CHECK(e.find("sigma_prgo") != std::string::npos);
  CHECK(e.find("sigma_prog") != std::string::npos);  // the nearest valid key
  e = error_of([&] { parse("[model]\npath = \"m.h5\"\n[sweep]\n\"rram.sigma_prgo\" = [0.1]\n"); });
  CHECK(e.find("sweep.rram.sigma_prgo") != std::string::npos);
  CHECK(e.find("rram.sigma_prog") != std::string::npos);
  e = error_of([&] { parse("[model]\npath = \"m.h5\"\n[adc]\nbits = \"eight\"\n"); });
  CHECK(e.find("adc.bits") != std::string::npos);
  e = error_of([&] { parse("[model]\npath = \"m.h5\"\n[sweep]\n\"adc.bits\" = [8, 0]\n"); });
  CHECK(e.find("adc.bits") != std::string::npos);  // a sweep point out of range is named
  e = error_of([&] { parse("[data]\nsubset = 10\n"); });
  CHECK(e.find("model.path") != std::string::npos);
  e = error_of([&] { parse("[model]\npath = \"m.h5\"\n[rram]\nrows = 64\n"); });
  CHECK(e.find("mapping.tile_rows") != std::string::npos);
  // Per-layer sections: [layer.N.section]; unknown keys there are named with a suggestion.
  const McConfig pl = parse("[model]\npath = \"m.h5\"\n[layer.1.mapping]\nsubstrate = \"sram_qs\"\n[layer.1.adc]\nbits = 5\n");
  REQUIRE(pl.analog.overrides.size() == 1);
  CHECK(pl.analog.for_layer(1).mapping.substrate == "sram_qs");
  CHECK(pl.analog.for_layer(1).adc.bits == 5);
  CHECK(pl.analog.for_layer(0).adc.bits == 8);
  e = error_of([&] { parse("[model]\npath = \"m.h5\"\n[layer.1.adc]\nbitz = 5\n"); });
  CHECK(e.find("layer.1.adc.bitz") != std::string::npos);
  CHECK(e.find("adc.bits") != std::string::npos);
  e = error_of([&] { parse("[model]\npath = \"m.h5\"\n[layer.1.adc]\nbits = 0\n"); });
  CHECK(e.find("adc.bits") != std::string::npos);
  // Dotted keys in [sweep] (a nested table in TOML) work the same as quoted ones.
  CHECK(parse("[model]\npath = \"m.h5\"\n[sweep]\nrram.sigma_prog = [0.0, 0.05]\n").points() == 2);
  // The [pcm] section, its sweeps and the drift compensation, like [rram].
  const McConfig pc = parse(pcm_campaign(model, 4));
  CHECK(pc.analog.mapping.substrate == "pcm");
  CHECK(pc.analog.mapping.drift_compensation == "column");
  CHECK(pc.analog_at(3).pcm.t_inference_s == 3.1536e7);
  CHECK(pc.analog_at(3).pcm.sigma_read == 0.02);
  e = error_of([&] { parse("[model]\npath = \"m.h5\"\n[pcm]\ncols = 64\n"); });
  CHECK(e.find("mapping.tile_cols") != std::string::npos);
  e = error_of([&] {
    parse("[model]\npath = \"m.h5\"\n[mapping]\nsubstrate = \"pcm\"\n[sweep]\n\"pcm.t_inference_s\" = [1, -1]\n");
  });
  CHECK(e.find("parameter 'pcm.t_inference_s' = -1") != std::string::npos);
  e = error_of([&] { parse("[model]\npath = \"m.h5\"\n[mapping]\ndrift_compensation = \"yes\"\n"); });
  CHECK(e.find("mapping.drift_compensation") != std::string::npos);
  e = error_of([&] { parse("[model]\npath = \"m.h5\"\n[layer.0.pcm]\nt_inference = 5\n"); });
  CHECK(e.find("pcm.t_inference_s") != std::string::npos);
}

TEST_CASE("mc: results are bit-identical for 1 and 2 threads") {
  test::ScratchDir dir("mc-threads");
  const std::string model = make_model(dir);
  bool pcm = false;
  SUBCASE("rram") {}
  SUBCASE("pcm with drift compensation") { pcm = true; }
  const std::string cfg = write_config(dir, "c.toml", pcm ? pcm_campaign(model, 5) : campaign(model, 5));
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  CHECK(run_quiet(cfg, dir.file("t1.h5")) == 0);
  omp_set_num_threads(2);
  CHECK(run_quiet(cfg, dir.file("t2.h5")) == 0);
  omp_set_num_threads(saved);
  const auto a = read_points(dir.file("t1.h5")), b = read_points(dir.file("t2.h5"));
  REQUIRE(a.size() == 4);
  CHECK(a == b);
  for (const auto& p : a) CHECK(std::count(p.done.begin(), p.done.end(), 1) == 5);
  // Trials differ from each other (fresh device instances) at sigma_prog > 0 (PCM: always), read noise on.
  CHECK(a[3].loss[0] != a[3].loss[1]);
  // Resuming a complete file runs nothing and changes no result.
  CHECK(run_quiet(cfg, dir.file("t1.h5"), false, true) == 0);
  CHECK(read_points(dir.file("t1.h5")) == a);
  // The clean digital accuracy on the evaluated images: the model's arg-max against the labels of the
  // first 150 test images, counted here.
  auto m = nets::load_model(model);
  const auto test = data::load_fashion_mnist("test", "").head(150);
  const Matrix logits = m.net.forward(test.x, nets::Mode::eval);
  long long right = 0;
  for (Eigen::Index i = 0; i < logits.rows(); ++i) {
    Eigen::Index k;
    logits.row(i).maxCoeff(&k);
    right += k == test.y[i];
  }
  H5::H5File f = h5::open_read(dir.file("t1.h5"));
  CHECK(h5::attr_double(f.openGroup("/"), "digital_accuracy", "t1.h5") == double(right) / 150.0);
}

TEST_CASE("mc: the stopping rule ends points on whole rounds, independent of threads") {
  test::ScratchDir dir("mc-stop");
  const std::string model = make_model(dir);
  // Without variation (sigma_prog = 0) and read noise 0.02 the trial spread is tiny: the rule stops
  // those points after the first round; the noisy points need more rounds or run to the maximum.
  const std::string cfg = write_config(dir, "c.toml", campaign(model, 12, "ci_half_width = 0.01\nround = 4\n"));
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  CHECK(run_quiet(cfg, dir.file("a.h5")) == 0);
  omp_set_num_threads(2);
  CHECK(run_quiet(cfg, dir.file("b.h5")) == 0);
  omp_set_num_threads(saved);
  const auto a = read_points(dir.file("a.h5"));
  CHECK(a == read_points(dir.file("b.h5")));
  // The rule itself, recomputed from the stored accuracies: a point stops at the first whole round
  // whose CI half-width is <= 0.01, and otherwise runs all 12 trials.
  int stopped_early = 0;
  for (const auto& p : a) {
    const auto n = std::count(p.done.begin(), p.done.end(), 1);
    CHECK(n % 4 == 0);
    for (std::int64_t k = 4; k <= n; k += 4) {
      std::vector<double> acc(p.accuracy.begin(), p.accuracy.begin() + k);
      const double hw = stats::mean_ci(acc, 0.95).half_width();
      if (k < n) CHECK(hw > 0.01);
      else if (n < 12) CHECK(hw <= 0.01);
    }
    stopped_early += n < 12;
  }
  // The test has power only if the rule fired: the two sigma_prog = 0 points (spread of read noise only)
  // must stop before the maximum, or the `hw <= 0.01` branch above was never exercised.
  INFO(stopped_early << " of 4 points stopped before 12 trials");
  CHECK(stopped_early >= 1);
}

TEST_CASE("mc: bad input gives a clear error and leaves existing results untouched") {
  test::ScratchDir dir("mc-bad");
  const std::string model = make_model(dir);
  const std::string good = write_config(dir, "good.toml", campaign(model, 2));
  const std::string out = dir.file("r.h5");
  REQUIRE(run_quiet(good, out) == 0);
  const auto before = test::read_bytes(out);

  // existing file without --force / --resume
  CHECK(error_of([&] { run_quiet(good, out); }).find("--force") != std::string::npos);
  // malformed config (TOML syntax), unknown key
  const std::string bad = write_config(dir, "bad.toml", "[model]\npath = \"" + model + "\"\n[mc\ntrials = 3\n");
  CHECK(error_of([&] { run_quiet(bad, out, true); }).find("bad.toml") != std::string::npos);
  // missing model file
  const std::string nomodel = write_config(dir, "nomodel.toml", campaign(dir.file("missing.h5"), 2));
  std::string e = error_of([&] { run_quiet(nomodel, out, true); });
  CHECK(e.find("missing.h5") != std::string::npos);
  CHECK(e.find("not found") != std::string::npos);
  // dataset/model shape mismatch: a model for 8x8 inputs
  {
    nets::Network net(Shape{1, 8, 8});
    net.add(nets::make_layer({"flatten", {{"c", 1}, {"h", 8}, {"w", 8}}}));
    net.add(nets::make_layer({"dense", {{"in", 64}, {"out", 10}}}));
    Stream init(1, "init");
    net.init(init);
    nets::save_model(dir.file("small.h5"), net, {"small", "synthetic", 0, 1, 0.0, 0.0, "", {}});
  }
  const std::string mismatch = write_config(dir, "mismatch.toml", campaign(dir.file("small.h5"), 2));
  e = error_of([&] { run_quiet(mismatch, out, true); });
  CHECK(e.find("small.h5") != std::string::npos);
  CHECK(e.find("(1, 8, 8)") != std::string::npos);
  // resume with a different config
  const std::string other = write_config(dir, "other.toml", campaign(model, 3));
  CHECK(error_of([&] { run_quiet(other, out, false, true); }).find("different config") != std::string::npos);
  // resume of a file written by another aimc version (its random numbers may differ)
  {
    const std::string old_version = dir.file("old.h5");
    std::filesystem::copy_file(out, old_version);
    {
      H5::H5File f(old_version, H5F_ACC_RDWR);
      H5::Group root = f.openGroup("/");
      root.removeAttr("aimc_version");
      h5::set_attr(root, "aimc_version", "0.1.0");
    }
    const auto old_bytes = test::read_bytes(old_version);
    e = error_of([&] { run_quiet(good, old_version, false, true); });
    CHECK(e.find("written by aimc 0.1.0") != std::string::npos);
    CHECK(test::read_bytes(old_version) == old_bytes);
  }

  CHECK(test::read_bytes(out) == before);
}

TEST_CASE("mc: [data] dataset = \"file\" evaluates a user's HDF5 file like the built-in set it holds") {
  // Oracle: the same images and labels reach the campaign through another reader, so every stored
  // number must be bit-identical to the campaign on the built-in Fashion-MNIST.
  test::ScratchDir dir("mc-file-data");
  const auto model = make_model(dir);
  for (const char* split : {"train", "test"}) {
    const auto d = data::load_fashion_mnist(split, "").head(200);
    auto f = h5::create(dir.file(std::string("fm_") + split + ".h5"));
    h5::write(f, "x", d.x);  // (N, 784): a flat layout; the model's input has the same size
    h5::write(f, "y", std::vector<std::int64_t>(d.y.data(), d.y.data() + d.y.size()));
  }
  const std::string hw = "[mc]\ntrials = 2\nseed = 5\nchunk = 50\n[rram]\nsigma_read = 0.02\nsigma_prog = 0.05\n";
  const auto builtin = write_config(dir, "b.toml", "[model]\npath = \"" + model +
                                                       "\"\n[data]\nsubset = 150\ncalibration = 64\n" + hw);
  const auto file = write_config(dir, "f.toml", "[model]\npath = \"" + model +
                                                    "\"\n[data]\ndataset = \"file\"\npath = \"" + dir.file("fm_{split}.h5") +
                                                    "\"\nsubset = 150\ncalibration = 64\n" + hw);
  REQUIRE(run_quiet(builtin, dir.file("b.h5")) == 0);
  REQUIRE(run_quiet(file, dir.file("f.h5")) == 0);
  const auto a = read_points(dir.file("b.h5")), b = read_points(dir.file("f.h5"));
  REQUIRE(a.size() == 1);
  CHECK(a == b);

  // Keys that do not fit together are errors naming the key.
  const auto no_path = write_config(dir, "e1.toml", "[model]\npath = \"" + model + "\"\n[data]\ndataset = \"file\"\n" + hw);
  CHECK(error_of([&] { run_quiet(no_path, dir.file("e1.h5")); }).find("data.path") != std::string::npos);
  const auto no_cal = write_config(dir, "e2.toml", "[model]\npath = \"" + model + "\"\n[data]\ndataset = \"file\"\npath = \"" +
                                                       dir.file("fm_test.h5") + "\"\nsubset = 150\n" + hw);
  CHECK(error_of([&] { run_quiet(no_cal, dir.file("e2.h5")); }).find("data.calibration_path") != std::string::npos);
  const auto stray = write_config(dir, "e3.toml", "[model]\npath = \"" + model + "\"\n[data]\npath = \"x.npz\"\n" + hw);
  CHECK(error_of([&] { run_quiet(stray, dir.file("e3.h5")); }).find("data.path") != std::string::npos);
  const auto missing = write_config(dir, "e4.toml", "[model]\npath = \"" + model + "\"\n[data]\ndataset = \"file\"\npath = \"" +
                                                        dir.file("nope_{split}.h5") + "\"\n" + hw);
  CHECK(error_of([&] { run_quiet(missing, dir.file("e4.h5")); }).find("nope_") != std::string::npos);
  CHECK(!std::filesystem::exists(dir.file("e1.h5")));
}
