// `aimc snr` as a library call: config validation before any work, the results file, thread-count
// determinism, and the analytical-vs-Monte-Carlo agreement over the shipped sweeps (configs/snr_*.toml).
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "../data/helpers.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "experiments/snr.hpp"

using namespace aimc;
using namespace aimc::experiments;

namespace {

std::string error_of(const std::string& text) {
  try {
    (void)parse_snr_config(parse_config(text, "bad.toml"));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const char* kTiny =
    "[snr]\nsamples = 400\nseed = 4\n"
    "[qs]\nb_x = 4\nb_w = 4\n[is]\nb_x = 4\nb_w = 4\n[qr]\nb_x = 4\nb_w = 4\n"
    "[sweep]\nn_rows = [16, 64]\n[sweep.qr]\nc_unit_F = [0.5e-15, 2e-15]\n"
    "[accumulation]\nn = [16, 256]\nmantissa_bits = [4, 10]\ntrials = 40\n";

int run_quiet(const std::string& cfg, const std::string& out, bool force = false) {
  SnrOptions o;
  o.config = cfg;
  o.out = out;
  o.force = force;
  o.progress = false;
  o.quiet = true;
  return run_snr(o);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("snr config: invalid sweeps fail with a message naming the key, before any work") {
  auto has = [](const std::string& err, const std::string& what) {
    INFO("error: " << err);
    CHECK(err.find("bad.toml") != std::string::npos);
    CHECK(err.find(what) != std::string::npos);
  };
  has(error_of("[sweep]\nn_rows = []\n"), "sweep.n_rows");                                   // empty range
  has(error_of("[sweep]\nn_row = [16]\n"), "did you mean 'n_rows'");                         // unknown name
  has(error_of("[sweep]\nc_unit_F = [1e-15]\n"), "put it under [sweep.qr]");                   // not common to all
  has(error_of("[sweep]\nv_wl_rel = [0.8]\n"), "put it under [sweep.qs] or [sweep.is]");
  has(error_of("[sweep.qr]\nt0_s = [1e-12]\n"), "not a numeric parameter of the qr model");  // wrong model
  has(error_of("[sweep.xx]\nn_rows = [16]\n"), "[sweep.qs], [sweep.is] or [sweep.qr]");
  has(error_of("[sweep.qr]\nc_unit_F = [-1e-15]\n"), "c_unit_F");                            // impossible value
  has(error_of("[sweep]\nv_dd_V = [0.3]\n"), "sweep point v_dd_V = 0.3");                    // below V_t: no current
  has(error_of("[sweep.qs]\nv_wl_rel = [0.2, 1.0]\n"), "v_wl_rel = 0.2");
  has(error_of("[sweep]\ntechnology = [\"7nm\"]\n"), "65nm");                                // names the presets
  has(error_of("[snr]\nmodels = \"qs,xx\"\n"), "unknown compute model 'xx'");
  has(error_of("[snr]\nsamples = 1\n"), "samples");
  has(error_of("[sweep]\nn_rows = [16, 32]\n[sweep.qs]\nn_rows = [8]\n"), "swept twice");
  has(error_of("[accumulation]\nn = [0]\nmantissa_bits = [4]\n"), "accumulation.n");
  has(error_of("[accumulation]\nn = [16]\nmantissa_bits = [60]\n"), "accumulation.mantissa_bits");
  has(error_of("[accumulation]\nmantissa_bits = [4]\n"), "accumulation.n");
  has(error_of("[qs]\nbogus = 1\n"), "qs.bogus");
  CHECK(error_of(kTiny).empty());
}

TEST_CASE("snr run: the results file holds the analysis, the Monte Carlo with intervals and the seeds") {
  test::ScratchDir dir("snr-run");
  const std::string cfg = dir.file("tiny.toml"), out = dir.file("tiny.h5");
  std::ofstream(cfg) << kTiny;
  REQUIRE(run_quiet(cfg, out) == 0);
  const SnrConfig c = parse_snr_config(load_config(cfg));
  H5::H5File f = h5::open_read(out);
  H5::Group root = f.openGroup("/");
  CHECK(h5::attr_string(root, "format", out) == "aimc-snr");
  CHECK(h5::attr_int(root, "seed", out) == 4);
  CHECK(h5::attr_string(root, "status", out) == "complete");
  CHECK(h5::read_strings(root, "config", out).at(0) == kTiny);
  for (const std::string m : {"qs", "is", "qr"}) {
    H5::Group g = h5::open_group(root, m, out);
    const auto snr_a = h5::read_doubles(g, "snr_a_db", out), bits = h5::read_doubles(g, "bits_mpc", out),
               lossless = h5::read_doubles(g, "bits_lossless", out), n_rows = h5::read_doubles(g, "n_rows", out);
    REQUIRE(snr_a.size() == c.points(m));
    CHECK(c.points(m) == (m == "qr" ? 4u : 2u));
    for (std::size_t p = 0; p < snr_a.size(); ++p) {
      const devices::ChainAnalysis a = m == "qs"   ? devices::analyze_chain(qs_at(c, p))
                                       : m == "is" ? devices::analyze_chain(is_at(c, p))
                                                   : devices::analyze_chain(qr_at(c, p));
      CHECK(snr_a[p] == a.snr_a_db);
      CHECK(bits[p] == a.bits_mpc);
      CHECK(bits[p] <= lossless[p]);
      CHECK(n_rows[p] == (m == "qr" ? (p < 2 ? 16 : 64) : (p == 0 ? 16 : 64)));
    }
    H5::Group mc = h5::open_group(g, "mc", out);
    const auto v = h5::read_doubles(mc, "snr_a_db", out), lo = h5::read_doubles(mc, "snr_a_db_lo", out),
               hi = h5::read_doubles(mc, "snr_a_db_hi", out);
    for (std::size_t p = 0; p < v.size(); ++p) {
      CHECK(lo[p] < v[p]);
      CHECK(v[p] < hi[p]);
    }
  }
  H5::Group acc = h5::open_group(root, "accumulation", out);
  const MatrixD vrr = h5::read_matrixd(acc, "vrr", out);
  CHECK(vrr.rows() == 2);
  CHECK(vrr.cols() == 2);
  // An existing file is not overwritten without --force, and a bad config never touches it.
  const std::string before = slurp(out);
  CHECK_THROWS_AS(run_quiet(cfg, out), Error);
  const std::string bad = dir.file("bad.toml");
  std::ofstream(bad) << "[sweep]\nn_rows = []\n";
  CHECK_THROWS_AS(run_quiet(bad, out, true), Error);
  CHECK(slurp(out) == before);
}

TEST_CASE("snr run: Monte Carlo results are identical for 1 and 2 threads") {
  test::ScratchDir dir("snr-threads");
  const std::string cfg = dir.file("tiny.toml");
  std::ofstream(cfg) << kTiny;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  REQUIRE(run_quiet(cfg, dir.file("t1.h5")) == 0);
  omp_set_num_threads(2);
  REQUIRE(run_quiet(cfg, dir.file("t2.h5")) == 0);
  omp_set_num_threads(saved);
  H5::H5File f1 = h5::open_read(dir.file("t1.h5")), f2 = h5::open_read(dir.file("t2.h5"));
  for (const std::string path : {"/qs/mc", "/is/mc", "/qr/mc"})
    for (const std::string ds : {"snr_a_db", "snr_T_mpc_db", "sqnr_qiy_db_se"})
      CHECK(h5::read_doubles(f1.openGroup(path), ds, "t1") == h5::read_doubles(f2.openGroup(path), ds, "t2"));
  CHECK(h5::read_matrixd(f1.openGroup("/accumulation"), "vrr", "t1") ==
        h5::read_matrixd(f2.openGroup("/accumulation"), "vrr", "t2"));
}

TEST_CASE("snr: analytical SNR_a agrees with the Monte Carlo within 0.5 dB over the shipped sweeps" *
          doctest::test_suite("slow")) {
  // Every configs/snr_*.toml, every model and point, at the configs' own sample counts.
  std::map<std::string, std::pair<double, std::string>> worst;  // model -> (gap, where)
  for (const std::string name : {"snr_rows", "snr_bounds", "snr_energy"}) {
    const SnrConfig c = parse_snr_config(load_config(std::string(AIMC_SOURCE_DIR) + "/configs/" + name + ".toml"));
    for (const auto& m : c.run.model_list()) {
      for (std::size_t p = 0; p < c.points(m); ++p) {
        const Stream s(std::uint64_t(c.run.seed), "snr." + m, {std::uint64_t(p)});
        auto one = [&](const auto& model) {
          const devices::ChainAnalysis a = devices::analyze_chain(model, c.mpc, c.adc_energy);
          const auto mc = devices::simulate_chain(model, a.bits_mpc, a.bits_lossless, c.run.samples, s, c.mpc);
          return std::pair{a.snr_a_db - mc.snr_a.db, mc.snr_a.se_db};
        };
        const auto [gap, se] = m == "qs" ? one(qs_at(c, p)) : m == "is" ? one(is_at(c, p)) : one(qr_at(c, p));
        // Beside the 0.5 dB spec (checked on the worst gap below): each gap within 5 of its standard
        // errors, se = (10 / ln 10) sd(e^2) / (mean(e^2) sqrt(n)) at the config's n (about 4.34 sqrt(2 / n)
        // dB for Gaussian errors); the analytical model must match as closely as the Monte Carlo resolves.
        INFO(name << " " << m << " point " << p << ": analytical - Monte Carlo " << gap << " dB, se " << se);
        CHECK(std::abs(gap) <= 5 * se);
        auto& w = worst[m];
        if (std::abs(gap) >= std::abs(w.first))
          w = {gap, name + " point " + std::to_string(p) + " (se " + std::to_string(se) + " dB)"};
      }
    }
  }
  for (const auto& [m, w] : worst) {
    MESSAGE(m << ": worst analytical - Monte Carlo SNR_a gap " << w.first << " dB at " << w.second);
    CHECK(std::abs(w.first) < 0.5);
  }
  CHECK(worst.size() == 3);
}
