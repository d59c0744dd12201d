// Crossbar cost model (devices/xbar_cost.hpp). The oracle is arithmetic written out here from the parameter
// values (not the code's helpers): a two-layer network on 64 x 64 crossbars,
//   layer "a": K = 200, N = 100, 4 input vectors -> ceil(200/64) ceil(100/64) = 4 x 2 = 8 crossbars;
//   layer "b": K = 50,  N = 10,  1 input vector  -> 1 x 1 = 1 crossbar; 9 in all.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/params.hpp"
#include "devices/xbar_cost.hpp"
#include "tests/common/approx.hpp"

using namespace aimc;
using namespace aimc::devices;
using aimc::test::rel;

namespace {

// Every cost below is a sum of a few products of counts and per-operation costs, each a handful of double
// operations; the code may group them differently (per layer, per tile), so the two sides differ by a few
// ulps: 1e-12 relative is ~5000 ulps of headroom and still far tighter than any modelling difference.
// (The energies are ~1e-12 J and times ~1e-7 s, where a bare doctest::Approx accepts anything.)
constexpr double kEps = 1e-12;

/// Round parameter values so that every product below is visible in the test.
XbarCostParams small_params() {
  XbarCostParams p;
  p.xbar_rows = 64;
  p.xbar_cols = 64;
  p.weight_slices = 1;
  p.t_read_s = 100e-9;
  p.e_cell_read_J = 2e-15;
  p.e_dac_J = 1e-15;
  p.adc_bits = 4;
  p.v_dd_V = 1.0;
  p.adc_energy.k1_F = 100e-15;
  p.adc_energy.k2_F = 1e-18;
  p.e_add_J = 0.1e-12;
  p.e_mult_J = 0.2e-12;
  p.coefficients = "pow2";
  p.digital_lanes = 4096;
  p.digital_pipelined = true;
  p.n_wv = 5;
  p.t_write_pulse_s = 10e-9;
  p.e_write_pulse_J = 3e-12;
  p.batch = 1;
  return p;
}

// Per-operation costs for small_params(), written out:
// ADC, 4 bits at 1 V: (k1 B + k2 4^B) V^2 = 100 fF * 4 + 1e-18 F * 256.
const double kAdc = 100e-15 * 4 + 1e-18 * 256;
// One crossbar read: cells 64 x 64 at 2 fJ, 64 row drivers at 1 fJ, 64 column conversions.
const double kRead = 2e-15 * 64 * 64 + 1e-15 * 64 + kAdc * 64;
// Programming one crossbar: 64 rows x 5 iterations, each a pulse on 64 cells (3 pJ) plus the verify read of
// the row (64 cells at 2 fJ, 64 conversions, 1 row driver); time 64 x 5 x (10 ns + 100 ns).
const double kProg = 64.0 * 5 * (64 * (3e-12 + 2e-15 + kAdc) + 1e-15);
const double kProgTime = 64.0 * 5 * (10e-9 + 100e-9);

/// BasisN view of the network with a basis of length 50 and 8 vectors: layer a has 200 / 50 = 4 segments,
/// 4 * 4 * 8 * 100 = 12800 coefficient multiply-adds; layer b 1 segment, 1 * 1 * 8 * 10 = 80.
std::vector<LayerWork> small_net() {
  return {{"a", 200, 100, 4, 4, 12800}, {"b", 50, 10, 1, 1, 80}};
}
const BasisShape kBasis{50, 8};  // ceil(50/64) ceil(8/64) = 1 crossbar per copy

}  // namespace

TEST_CASE("xbar cost: crossbar counts by hand") {
  XbarCostParams p = small_params();
  CHECK(crossbars_for(200, 100, p) == 8);
  CHECK(crossbars_for(50, 10, p) == 1);
  CHECK(crossbars_for(64, 64, p) == 1);
  CHECK(crossbars_for(65, 64, p) == 2);
  CHECK(standard_crossbars(small_net(), p) == 9);
  p.weight_slices = 2;
  CHECK(crossbars_for(200, 100, p) == 16);
  CHECK(standard_crossbars(small_net(), p) == 18);
}

TEST_CASE("xbar cost: standard mapping that fits by hand") {
  const XbarCostParams p = small_params();
  for (long long n : {9LL, 20LL}) {
    CAPTURE(n);
    const CostResult r = standard_cost(small_net(), p, n);
    CHECK(r.mapping == "standard");
    CHECK(r.feasible);
    CHECK(r.crossbars_used == 9);
    CHECK(r.cycles == 4 + 1);
    // Reads: layer a 4 vectors x 8 crossbars, layer b 1 x 1.
    const double analog = (4 * 8 + 1 * 1) * kRead;
    // Partial sums: layer a adds ceil(200/64) = 4 row tiles per output: 3 adds x 100 outputs x 4 vectors;
    // layer b has one row tile, no adds.
    const double digital = 4 * 3 * 100 * 0.1e-12;
    const double latency = 5 * 100e-9;
    CHECK(r.analog_energy_J == rel(analog, kEps));
    CHECK(r.digital_energy_J == rel(digital, kEps));
    CHECK(r.write_energy_J == 0);
    CHECK(r.write_time_s == 0);
    CHECK(r.latency_s == rel(latency, kEps));
    CHECK(r.energy_J == rel(analog + digital, kEps));
    CHECK(r.edp_Js == rel((analog + digital) * latency, kEps));
    CHECK(r.one_time_write_energy_J == rel(9 * kProg, kEps));
  }
}

TEST_CASE("xbar cost: weight slices multiply crossbars and partial sums by hand") {
  XbarCostParams p = small_params();
  p.weight_slices = 2;
  const CostResult r = standard_cost(small_net(), p, 18);
  CHECK(r.mapping == "standard");
  CHECK(r.crossbars_used == 18);
  CHECK(r.analog_energy_J == rel((4 * 16 + 1 * 2) * kRead, kEps));
  // Layer a: 4 row tiles x 2 slices = 8 results per output, 7 adds; layer b: 1 x 2, 1 add per output.
  CHECK(r.digital_energy_J == rel((4 * 7 * 100 + 1 * 1 * 10) * 0.1e-12, kEps));
}

TEST_CASE("xbar cost: reprogramming below the need by hand") {
  XbarCostParams p = small_params();
  const CostResult r = standard_cost(small_net(), p, 3);
  CHECK(r.mapping == "reprogram");
  CHECK(r.feasible);
  CHECK(r.crossbars_used == 3);
  // Layer a: ceil(8/3) = 3 rounds of 4 MVMs; layer b: 1 round of 1 MVM.
  CHECK(r.cycles == 3 * 4 + 1 * 1);
  // 4 programming rounds in all, each one crossbar's time (a round's crossbars are written in parallel);
  // every one of the 9 crossbars' worth of tiles is written once per pass.
  CHECK(r.write_time_s == rel(4 * kProgTime, kEps));
  CHECK(r.write_energy_J == rel(9 * kProg, kEps));
  const double analog = (4 * 8 + 1 * 1) * kRead, digital = 4 * 3 * 100 * 0.1e-12;
  CHECK(r.analog_energy_J == rel(analog, kEps));
  CHECK(r.digital_energy_J == rel(digital, kEps));
  const double latency = 13 * 100e-9 + 4 * kProgTime, energy = analog + digital + 9 * kProg;
  CHECK(r.latency_s == rel(latency, kEps));
  CHECK(r.energy_J == rel(energy, kEps));
  CHECK(r.edp_Js == rel(energy * latency, kEps));
  CHECK(r.one_time_write_energy_J == 0);
  // The write cost dominates: 4 x 35.2 us against 1.3 us of reads.
  CHECK(r.write_time_s > 10 * r.cycles * p.t_read_s);

  p.batch = 4;  // one pass serves 4 inputs: the write cost per inference is a quarter
  const CostResult b = standard_cost(small_net(), p, 3);
  CHECK(b.cycles == 13);
  CHECK(b.write_time_s == rel(4 * kProgTime / 4, kEps));
  CHECK(b.write_energy_J == rel(9 * kProg / 4, kEps));
  CHECK(b.energy_J == rel(analog + digital + 9 * kProg / 4, kEps));
}

TEST_CASE("xbar cost: BasisN by hand") {
  XbarCostParams p = small_params();
  SUBCASE("pipelined digital unit and power-of-two coefficients") {
    const CostResult r = basisn_cost(small_net(), kBasis, p, 3);
    CHECK(r.mapping == "basisn");
    CHECK(r.feasible);
    CHECK(r.reason.empty());
    CHECK(r.crossbars_used == 3);  // 3 copies of a 1-crossbar basis
    // Layer a: 4 x 4 = 16 basis MVMs over 3 copies = 6 cycles; 12800 / 4096 -> 4 digital cycles; max 6.
    // Layer b: 1 basis MVM = 1 cycle; 80 / 4096 -> 1 digital cycle; max 1.
    CHECK(r.cycles == 6 + 1);
    const double analog = (16 + 1) * 1 * kRead;
    const double digital = (12800 + 80) * 0.1e-12;  // shift-and-add; L = 50 <= 64 rows: no partial sums
    const double latency = 7 * 100e-9;
    CHECK(r.analog_energy_J == rel(analog, kEps));
    CHECK(r.digital_energy_J == rel(digital, kEps));
    CHECK(r.write_energy_J == 0);
    CHECK(r.write_time_s == 0);
    CHECK(r.latency_s == rel(latency, kEps));
    CHECK(r.energy_J == rel(analog + digital, kEps));
    CHECK(r.edp_Js == rel((analog + digital) * latency, kEps));
    CHECK(r.one_time_write_energy_J == rel(3 * kProg, kEps));
  }
  SUBCASE("digital unit after the reads and uniform coefficients") {
    p.digital_pipelined = false;
    p.coefficients = "uniform";
    const CostResult r = basisn_cost(small_net(), kBasis, p, 3);
    CHECK(r.cycles == (6 + 4) + (1 + 1));
    CHECK(r.digital_energy_J == rel((12800 + 80) * (0.2e-12 + 0.1e-12), kEps));
    CHECK(r.latency_s == rel(12 * 100e-9, kEps));
  }
  SUBCASE("a standard layer beside the basis copies") {
    std::vector<LayerWork> net = small_net();
    net[1].segments = 0;
    net[1].coeff_macs = 0;
    const CostResult r = basisn_cost(net, kBasis, p, 3);
    // Layer b keeps its 1 crossbar: floor((3 - 1) / 1) = 2 copies. Layer a: ceil(16 / 2) = 8 analog cycles,
    // 4 digital; layer b: 1 cycle.
    CHECK(r.feasible);
    CHECK(r.crossbars_used == 2 + 1);
    CHECK(r.cycles == 8 + 1);
    CHECK(r.analog_energy_J == rel(16 * kRead + 1 * 1 * kRead, kEps));
    CHECK(r.digital_energy_J == rel(12800 * 0.1e-12, kEps));
    CHECK(r.one_time_write_energy_J == rel(3 * kProg, kEps));
  }
  SUBCASE("a basis longer than the crossbar adds partial sums") {
    // L = 100 -> ceil(100/64) = 2 crossbars per copy, each basis MVM adds 2 row tiles: 1 add x 8 vectors.
    // Layer a: 200 / 100 = 2 segments, 4 * 2 * 8 * 100 = 6400 multiply-adds; layer b: 1 segment, 80.
    const std::vector<LayerWork> net = {{"a", 200, 100, 4, 2, 6400}, {"b", 50, 10, 1, 1, 80}};
    const CostResult r = basisn_cost(net, {100, 8}, p, 5);
    CHECK(r.crossbars_used == 2 * 2);  // floor(5 / 2) = 2 copies
    // Layer a: 8 basis MVMs over 2 copies = 4 cycles, 6400 / 4096 -> 2 digital; layer b: 1 and 1.
    CHECK(r.cycles == 4 + 1);
    CHECK(r.analog_energy_J == rel((8 + 1) * 2 * kRead, kEps));
    CHECK(r.digital_energy_J == rel((8 + 1) * 1 * 8 * 0.1e-12 + (6400 + 80) * 0.1e-12, kEps));
  }
}

TEST_CASE("xbar cost: BasisN infeasible when no basis copy fits") {
  const XbarCostParams p = small_params();
  SUBCASE("the basis alone is larger than the crossbars") {
    // 200 x 100 basis: 4 x 2 = 8 crossbars per copy, 3 available.
    const CostResult r = basisn_cost(small_net(), {200, 100}, p, 3);
    CHECK_FALSE(r.feasible);
    CHECK(r.crossbars_used == 0);
    CHECK(r.cycles == 0);
    CHECK(r.reason.find("8") != std::string::npos);
  }
  SUBCASE("the standard layers leave no room for a copy") {
    std::vector<LayerWork> net = small_net();
    net[0].segments = 0;  // layer a stays standard: 8 crossbars; 8 + 1 > 8 available
    CHECK_FALSE(basisn_cost(net, kBasis, p, 8).feasible);
    CHECK(basisn_cost(net, kBasis, p, 9).feasible);
  }
}

TEST_CASE("xbar cost: more crossbars never increase cycles") {
  XbarCostParams p = small_params();
  for (bool pipelined : {true, false}) {
    p.digital_pipelined = pipelined;
    for (const BasisShape basis : {BasisShape{50, 8}, BasisShape{100, 8}, BasisShape{50, 100}}) {
      double prev_basisn = -1, prev_standard = -1;
      int feasible_points = 0;
      for (long long n = 1; n <= 40; ++n) {
        CAPTURE(n);
        const CostResult b = basisn_cost(small_net(), basis, p, n);
        if (b.feasible) {
          ++feasible_points;
          if (prev_basisn >= 0) CHECK(b.cycles <= prev_basisn);
          prev_basisn = b.cycles;
        } else {
          CHECK(prev_basisn < 0);  // once feasible, stays feasible
        }
        const CostResult s = standard_cost(small_net(), p, n);
        if (prev_standard >= 0) CHECK(s.cycles <= prev_standard);
        prev_standard = s.cycles;
      }
      CHECK(feasible_points > 30);  // the property was exercised
    }
  }
  // And the BasisN cycles do fall: layer a's 16 basis MVMs on 1 copy vs 16 copies.
  p.digital_pipelined = true;
  CHECK(basisn_cost(small_net(), kBasis, p, 1).cycles == 16 + 1);
  CHECK(basisn_cost(small_net(), kBasis, p, 16).cycles == 4 + 1);  // digital-bound: 12800 / 4096 -> 4
}

TEST_CASE("xbar cost: reprogramming cost per inference falls with batch") {
  XbarCostParams p = small_params();
  double prev_energy = 0, prev_latency = 0;
  for (int batch : {1, 2, 4, 8, 16, 1000}) {
    CAPTURE(batch);
    p.batch = batch;
    const CostResult r = standard_cost(small_net(), p, 3);
    CHECK(r.mapping == "reprogram");
    CHECK(r.write_energy_J * batch == rel(9 * kProg, kEps));
    if (batch > 1) {
      CHECK(r.energy_J < prev_energy);
      CHECK(r.latency_s < prev_latency);
    }
    prev_energy = r.energy_J;
    prev_latency = r.latency_s;
  }
  // The batch does not touch a mapping that fits.
  p.batch = 1;
  const double fits1 = standard_cost(small_net(), p, 9).energy_J;
  p.batch = 8;
  CHECK(standard_cost(small_net(), p, 9).energy_J == rel(fits1, kEps));
}

TEST_CASE("xbar cost: bad parameters and inputs are errors naming them") {
  const auto net = small_net();
  XbarCostParams p = small_params();
  CHECK_NOTHROW(validate(XbarCostParams{}, "xbar_cost"));

  p.t_read_s = 0;
  CHECK_THROWS_WITH_AS(standard_cost(net, p, 9), doctest::Contains("xbar_cost.t_read_s"), Error);
  p = small_params();
  p.coefficients = "float";
  CHECK_THROWS_WITH_AS(basisn_cost(net, kBasis, p, 9), doctest::Contains("xbar_cost.coefficients"), Error);
  p = small_params();
  p.batch = 0;
  CHECK_THROWS_WITH_AS(standard_cost(net, p, 3), doctest::Contains("xbar_cost.batch"), Error);
  p = small_params();
  p.adc_bits = 0;
  CHECK_THROWS_WITH_AS(standard_cost(net, p, 9), doctest::Contains("xbar_cost.adc_bits"), Error);
  p = small_params();
  p.xbar_rows = 0;
  CHECK_THROWS_WITH_AS(standard_cost(net, p, 9), doctest::Contains("xbar_cost.xbar_rows"), Error);
  p = small_params();
  p.adc_energy.k1_F = -1;
  CHECK_THROWS_WITH_AS(standard_cost(net, p, 9), doctest::Contains("adc_energy.k1_F"), Error);

  p = small_params();
  CHECK_THROWS_WITH_AS(standard_cost(net, p, 0), doctest::Contains("n_xbar"), Error);
  CHECK_THROWS_WITH_AS(basisn_cost(net, {0, 8}, p, 9), doctest::Contains("basis.length"), Error);
  CHECK_THROWS_WITH_AS(basisn_cost(net, {50, 0}, p, 9), doctest::Contains("basis.size"), Error);
  auto bad = net;
  bad[1].rows = 0;
  CHECK_THROWS_WITH_AS(standard_cost(bad, p, 9), doctest::Contains("'b': rows = 0"), Error);
  bad = net;
  bad[0].mvms = -2;
  CHECK_THROWS_WITH_AS(basisn_cost(bad, kBasis, p, 9), doctest::Contains("'a': mvms = -2"), Error);
  bad = net;
  bad[0].segments = -1;
  CHECK_THROWS_WITH_AS(basisn_cost(bad, kBasis, p, 9), doctest::Contains("segments"), Error);
  CHECK_THROWS_AS(standard_cost({}, p, 9), Error);
}

TEST_CASE("xbar cost: every parameter has a description and a source") {
  for (const auto& q : XbarCostParams::params()) {
    CAPTURE(q.name);
    CHECK_FALSE(q.description.empty());
    CHECK_FALSE(q.source.empty());
  }
  CHECK(param_names<XbarCostParams>().size() == 17);
}
