// SNN crossbar cost model (devices/snn_cost.hpp). Two oracles, both independent of the code under test:
// numbers written out by hand for one case, and a tile-by-tile loop over every crossbar of every layer
// (rows and columns actually held by each tile, partial sums added one at a time) for all read-outs.
// The network: 32 x 16 crossbars, 2 slices per weight, 3 time steps,
//   layer "conv": K = 100, N = 20, 9 vectors per step, activity 0.5 -> ceil(100/32) ceil(20/16) 2 = 4 x 2 x 2 = 16
//   layer "fc":   K = 40,  N = 10, 1 vector per step,  activity 0.25 -> 2 x 1 x 2 = 4 crossbars; 20 in all.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/params.hpp"
#include "devices/snn_cost.hpp"

using namespace aimc;
using namespace aimc::devices;

namespace {

/// Relative comparison: doctest::Approx's default scale of 1 would accept any two energies below 1e-5 J.
doctest::Approx near(double x) { return doctest::Approx(x).scale(0).epsilon(1e-9); }

constexpr int kRows = 32, kCols = 16, kSlices = 2, kSteps = 3;

/// Round values so that every product below is visible.
SnnCostParams small_params() {
  SnnCostParams p;
  p.t_read_s = 10e-9;
  p.e_cell_read_J = 2e-15;
  p.e_row_drive_J = 1e-15;
  p.cols_per_adc = 4;
  p.adc_mux = "sample_hold";
  p.t_adc_bit_s = 1e-9;
  p.v_dd_V = 1.0;
  p.adc_energy.k1_F = 100e-15;
  p.adc_energy.k2_F = 1e-18;
  p.e_sa_J = 50e-15;
  p.t_sa_s = 2e-9;
  p.e_add_bit_J = 1e-15;
  p.e_buffer_bit_J = 10e-15;
  p.e_neuron_J = 0.5e-12;
  return p;
}

std::vector<SnnLayerWork> small_net() { return {{"conv", 100, 20, 9, 0.5}, {"fc", 40, 10, 1, 0.25}}; }

/// The oracle: walks every crossbar tile (row block, column block, slice) and every output's partial sums.
SnnCostResult by_tiles(const std::vector<SnnLayerWork>& net, const SnnCostParams& p, bool adc, int bits, int R,
                       int C, int S, int T) {
  const int b = adc ? bits : 1;
  const double e_conv =
      adc ? (p.adc_energy.k1_F * bits + p.adc_energy.k2_F * std::pow(4.0, bits)) * p.v_dd_V * p.v_dd_V : p.e_sa_J;
  const bool reread = adc && p.adc_mux == "reread";
  double t_tile = 0, t_conv = 0;
  if (!adc) {
    t_conv = p.t_sa_s;
    t_tile = p.t_read_s + p.t_sa_s;
  } else {
    for (int col = 0; col < p.cols_per_adc; ++col) {  // the shared ADC takes its columns in turn
      t_conv += bits * p.t_adc_bit_s;
      t_tile += (reread ? p.t_read_s : 0) + bits * p.t_adc_bit_s;
    }
    if (!reread) t_tile += p.t_read_s;
  }
  SnnCostResult r;
  for (const auto& l : net) {
    double array = 0, readout = 0, acc = 0, buf = 0, neuron = 0;
    int partials = 0;  // per output
    for (long long r0 = 0; r0 < l.rows; r0 += R) {
      ++partials;
      for (long long c0 = 0; c0 < l.cols; c0 += C) {
        for (int s = 0; s < S; ++s) {
          ++r.crossbars;
          const double rows_here = static_cast<double>(std::min<long long>(R, l.rows - r0));
          const double cols_here = static_cast<double>(std::min<long long>(C, l.cols - c0));
          const double spiking = l.input_activity * rows_here;
          array += spiking * cols_here * p.e_cell_read_J + spiking * (reread ? p.cols_per_adc : 1) * p.e_row_drive_J;
          readout += cols_here * e_conv;
        }
      }
    }
    partials *= S;
    for (long long n = 0; n < l.cols; ++n) {
      int width = b;  // running sum's width grows to b + ceil(log2 partials)
      while ((1 << (width - b)) < partials) ++width;
      for (int k = 1; k < partials; ++k) acc += width * p.e_add_bit_J;
      buf += partials * b * p.e_buffer_bit_J;
      neuron += p.e_neuron_J;
    }
    buf += static_cast<double>(l.rows) * p.e_buffer_bit_J;
    const double v = static_cast<double>(l.mvms) * T;
    r.array_energy_J += v * array;
    r.readout_energy_J += v * readout;
    r.accumulate_energy_J += v * acc;
    r.buffer_energy_J += v * buf;
    r.neuron_energy_J += v * neuron;
    r.latency_s += v * t_tile;
    r.readout_latency_s += v * t_conv;
  }
  r.energy_J = r.array_energy_J + r.readout_energy_J + r.accumulate_energy_J + r.buffer_energy_J + r.neuron_energy_J;
  return r;
}

void check_same(const SnnCostResult& got, const SnnCostResult& want) {
  CHECK(got.crossbars == want.crossbars);
  CHECK(got.array_energy_J == near(want.array_energy_J));
  CHECK(got.readout_energy_J == near(want.readout_energy_J));
  CHECK(got.accumulate_energy_J == near(want.accumulate_energy_J));
  CHECK(got.buffer_energy_J == near(want.buffer_energy_J));
  CHECK(got.neuron_energy_J == near(want.neuron_energy_J));
  CHECK(got.energy_J == near(want.energy_J));
  CHECK(got.latency_s == near(want.latency_s));
  CHECK(got.readout_latency_s == near(want.readout_latency_s));
}

}  // namespace

TEST_CASE("snn cost: 4-bit ADC with sample-and-hold by hand") {
  const SnnCostParams p = small_params();
  const SnnCostResult r = snn_cost(small_net(), p, "adc", 4, kRows, kCols, kSlices, kSteps);
  CHECK(r.crossbars == 16 + 4);
  // One 4-bit conversion at 1 V: 100 fF x 4 + 1e-18 F x 256.
  const double conv = 100e-15 * 4 + 1e-18 * 256;
  // Per vector of "conv": 50 spiking rows x 20 outputs x 2 slices cells at 2 fJ; 50 spiking rows drive
  // 2 column blocks x 2 slices at 1 fJ; 4 row blocks x 2 slices = 8 partial sums per output, converted
  // (8 x 20 conversions), added by 7 adds of 4 + 3 = 7 bits, buffered at 4 bits each plus the 100 input bits;
  // 20 neuron updates.
  const double conv_array = 50 * 20 * 2 * 2e-15 + 50 * 2 * 2 * 1e-15;
  const double conv_readout = 8 * 20 * conv, conv_acc = 20 * 7 * 7 * 1e-15;
  const double conv_buf = (100 + 8 * 20 * 4) * 10e-15, conv_neuron = 20 * 0.5e-12;
  // Per vector of "fc": 10 spiking rows x 10 x 2 cells; 10 rows x 1 block x 2 slices of drives; 2 x 2 = 4
  // partial sums per output, 3 adds of 4 + 2 = 6 bits; buffer 40 + 4 x 10 x 4 bits; 10 neurons.
  const double fc_array = 10 * 10 * 2 * 2e-15 + 10 * 1 * 2 * 1e-15;
  const double fc_readout = 4 * 10 * conv, fc_acc = 10 * 3 * 6 * 1e-15;
  const double fc_buf = (40 + 4 * 10 * 4) * 10e-15, fc_neuron = 10 * 0.5e-12;
  // 3 steps, 9 and 1 vectors per step.
  CHECK(r.array_energy_J == near(3 * (9 * conv_array + fc_array)));
  CHECK(r.readout_energy_J == near(3 * (9 * conv_readout + fc_readout)));
  CHECK(r.accumulate_energy_J == near(3 * (9 * conv_acc + fc_acc)));
  CHECK(r.buffer_energy_J == near(3 * (9 * conv_buf + fc_buf)));
  CHECK(r.neuron_energy_J == near(3 * (9 * conv_neuron + fc_neuron)));
  CHECK(r.energy_J == near(3 * (9 * (conv_array + conv_readout + conv_acc + conv_buf + conv_neuron) +
                                           fc_array + fc_readout + fc_acc + fc_buf + fc_neuron)));
  // A read: 10 ns, then 4 columns x 4 bits x 1 ns through the shared ADC; 3 x (9 + 1) reads.
  CHECK(r.latency_s == near(30 * (10e-9 + 16e-9)));
  CHECK(r.readout_latency_s == near(30 * 16e-9));
}

TEST_CASE("snn cost: sense amplifiers and the reread ADC by hand") {
  SnnCostParams p = small_params();
  SUBCASE("sense_amp") {
    const SnnCostResult r = snn_cost(small_net(), p, "sense_amp", 4, kRows, kCols, kSlices, kSteps);
    // 1-bit partial sums: conv adds 7 times at 1 + 3 bits, fc 3 times at 1 + 2 bits.
    CHECK(r.readout_energy_J == near(3 * (9 * 8 * 20 + 4 * 10) * 50e-15));
    CHECK(r.accumulate_energy_J == near(3 * (9 * 20 * 7 * 4 + 10 * 3 * 3) * 1e-15));
    CHECK(r.buffer_energy_J == near(3 * (9 * (100 + 8 * 20) + 40 + 4 * 10) * 10e-15));
    CHECK(r.latency_s == near(30 * (10e-9 + 2e-9)));
    CHECK(r.readout_latency_s == near(30 * 2e-9));
    // adc_bits is ignored by the SA read-out, even a value the ADC would reject.
    CHECK(snn_cost(small_net(), p, "sense_amp", 0, kRows, kCols, kSlices, kSteps).energy_J ==
          near(r.energy_J));
  }
  SUBCASE("reread") {
    p.adc_mux = "reread";
    const SnnCostResult r = snn_cost(small_net(), p, "adc", 4, kRows, kCols, kSlices, kSteps);
    // 4 reads per crossbar read, each 10 ns + 4 ns; the row drivers fire 4 times, the cells as before.
    CHECK(r.latency_s == near(30 * 4 * (10e-9 + 4e-9)));
    CHECK(r.readout_latency_s == near(30 * 16e-9));
    const double drives = 3 * (9 * 50 * 2 * 2 + 10 * 1 * 2) * 4 * 1e-15;
    const double cells = 3 * (9 * 50 * 20 * 2 + 10 * 10 * 2) * 2e-15;
    CHECK(r.array_energy_J == near(drives + cells));
  }
}

TEST_CASE("snn cost: tile-by-tile oracle over read-outs, precisions, tile sizes and multiplexing") {
  SnnCostParams p = small_params();
  // A third layer that fits one crossbar in some tile sizes and leaves partly filled tiles in others.
  std::vector<SnnLayerWork> net = small_net();
  net.push_back({"head", 27, 5, 4, 0.9});
  for (const char* mux : {"sample_hold", "reread"}) {
    p.adc_mux = mux;
    for (int R : {8, 32, 64}) {
      for (int C : {4, 16, 64}) {
        for (int S : {1, 3}) {
          p.cols_per_adc = std::min(4, C);
          CAPTURE(mux);
          CAPTURE(R);
          CAPTURE(C);
          CAPTURE(S);
          check_same(snn_cost(net, p, "sense_amp", 1, R, C, S, 2), by_tiles(net, p, false, 1, R, C, S, 2));
          for (int bits : {1, 3, 8}) {
            CAPTURE(bits);
            check_same(snn_cost(net, p, "adc", bits, R, C, S, 2), by_tiles(net, p, true, bits, R, C, S, 2));
          }
        }
      }
    }
  }
}

TEST_CASE("snn cost: limits") {
  const SnnCostParams p = small_params();
  SUBCASE("no spikes: the array draws nothing, read-out, buffers and neurons still run") {
    std::vector<SnnLayerWork> net = small_net();
    for (auto& l : net) l.input_activity = 0;
    for (const char* ro : {"adc", "sense_amp"}) {
      CAPTURE(ro);
      const SnnCostResult r = snn_cost(net, p, ro, 4, kRows, kCols, kSlices, kSteps);
      const SnnCostResult full = snn_cost(small_net(), p, ro, 4, kRows, kCols, kSlices, kSteps);
      CHECK(r.array_energy_J == 0);
      CHECK(full.array_energy_J > 0);
      CHECK(r.readout_energy_J == near(full.readout_energy_J));
      CHECK(r.energy_J == near(full.energy_J - full.array_energy_J));
      CHECK(r.latency_s == near(full.latency_s));  // a read takes its time whatever the inputs
    }
  }
  SUBCASE("one crossbar: no accumulation, latency is steps x vectors x one read") {
    const std::vector<SnnLayerWork> one{{"x", 32, 16, 5, 1.0}};
    const SnnCostResult r = snn_cost(one, p, "adc", 4, kRows, kCols, 1, 2);
    CHECK(r.crossbars == 1);
    CHECK(r.accumulate_energy_J == 0);
    CHECK(r.latency_s == near(2 * 5 * (10e-9 + 4 * 4 * 1e-9)));
    // Every cell read, every row driven, 16 conversions, 16 partial sums of 4 bits plus 32 input bits.
    CHECK(r.array_energy_J == near(10 * (32 * 16 * 2e-15 + 32 * 1e-15)));
    CHECK(r.buffer_energy_J == near(10 * (32 + 16 * 4) * 10e-15));
  }
  SUBCASE("one ADC per column: sample-and-hold and reread agree in time") {
    SnnCostParams q = p;
    q.cols_per_adc = 1;
    const double hold = snn_cost(small_net(), q, "adc", 4, kRows, kCols, kSlices, kSteps).latency_s;
    q.adc_mux = "reread";
    CHECK(snn_cost(small_net(), q, "adc", 4, kRows, kCols, kSlices, kSteps).latency_s == near(hold));
  }
}

TEST_CASE("snn cost: monotonicity") {
  SnnCostParams p = small_params();
  SUBCASE("energy and latency grow with the ADC bits; the SA undercuts any ADC of 2 bits or more") {
    const double sa = snn_cost(small_net(), p, "sense_amp", 1, kRows, kCols, kSlices, kSteps).energy_J;
    double prev_e = 0, prev_t = 0;
    for (int bits = 1; bits <= 12; ++bits) {
      CAPTURE(bits);
      const SnnCostResult r = snn_cost(small_net(), p, "adc", bits, kRows, kCols, kSlices, kSteps);
      CHECK(r.energy_J > prev_e);
      CHECK(r.latency_s > prev_t);
      if (bits >= 2) CHECK(r.energy_J > sa);
      prev_e = r.energy_J;
      prev_t = r.latency_s;
    }
  }
  SUBCASE("the adc / sense_amp latency ratio grows with the columns per ADC") {
    for (const char* mux : {"sample_hold", "reread"}) {
      CAPTURE(mux);
      p.adc_mux = mux;
      double prev = 0;
      for (int m = 1; m <= kCols; ++m) {
        CAPTURE(m);
        p.cols_per_adc = m;
        const double ratio = snn_cost(small_net(), p, "adc", 4, kRows, kCols, kSlices, kSteps).latency_s /
                             snn_cost(small_net(), p, "sense_amp", 4, kRows, kCols, kSlices, kSteps).latency_s;
        CHECK(ratio > prev);
        prev = ratio;
      }
      CHECK(prev > 4);  // 16 columns x 4 bits x 1 ns against a 2 ns SA decision
    }
  }
  SUBCASE("energy grows with activity and with steps") {
    std::vector<SnnLayerWork> net = small_net();
    double prev = -1;
    for (double a : {0.0, 0.1, 0.5, 1.0}) {
      for (auto& l : net) l.input_activity = a;
      const double e = snn_cost(net, p, "adc", 4, kRows, kCols, kSlices, kSteps).energy_J;
      CHECK(e > prev);
      prev = e;
    }
    const SnnCostResult one = snn_cost(net, p, "sense_amp", 4, kRows, kCols, kSlices, 1);
    const SnnCostResult five = snn_cost(net, p, "sense_amp", 4, kRows, kCols, kSlices, 5);
    CHECK(five.energy_J == near(5 * one.energy_J));
    CHECK(five.latency_s == near(5 * one.latency_s));
    CHECK(five.crossbars == one.crossbars);  // weights are stored once
  }
}

TEST_CASE("snn cost: defaults are valid and every parameter has a unit and a source") {
  CHECK_NOTHROW(validate(SnnCostParams{}, "snn_cost"));
  for (const auto& q : SnnCostParams::params()) {
    CAPTURE(q.name);
    CHECK(!q.source.empty());
    CHECK(!q.description.empty());
  }
  // ISAAC's SAR ADC: 8 bit decisions at 1.28 GS/s.
  CHECK(SnnCostParams{}.t_adc_bit_s * 8 * 1.28e9 == near(1.0));
}

TEST_CASE("snn cost: bad parameters and inputs are errors naming them") {
  const auto net = small_net();
  const auto run = [&](const SnnCostParams& p, const std::vector<SnnLayerWork>& layers = small_net()) {
    return snn_cost(layers, p, "adc", 4, kRows, kCols, kSlices, kSteps);
  };
  SnnCostParams p = small_params();
  p.cols_per_adc = 0;
  CHECK_THROWS_WITH_AS(run(p), doctest::Contains("parameter 'snn_cost.cols_per_adc' = 0"), Error);
  p.cols_per_adc = kCols + 1;  // more columns than the crossbar has
  CHECK_THROWS_WITH_AS(run(p), doctest::Contains("parameter 'snn_cost.cols_per_adc' = 17"), Error);
  CHECK_NOTHROW(snn_cost(net, p, "sense_amp", 1, kRows, kCols, kSlices, kSteps));  // no ADC, no constraint
  p = small_params();
  p.t_read_s = 0;
  CHECK_THROWS_WITH_AS(run(p), doctest::Contains("snn_cost.t_read_s"), Error);
  p = small_params();
  p.e_sa_J = -1e-15;
  CHECK_THROWS_WITH_AS(run(p), doctest::Contains("snn_cost.e_sa_J"), Error);
  p = small_params();
  p.adc_mux = "flash";
  CHECK_THROWS_WITH_AS(run(p), doctest::Contains("snn_cost.adc_mux"), Error);
  p = small_params();
  p.adc_energy.k1_F = -1;
  CHECK_THROWS_WITH_AS(run(p), doctest::Contains("adc_energy.k1_F"), Error);
  p = small_params();
  CHECK_THROWS_WITH_AS(snn_cost(net, p, "flash", 4, kRows, kCols, kSlices, kSteps), doctest::Contains("readout"),
                       Error);
  CHECK_THROWS_WITH_AS(snn_cost(net, p, "adc", 0, kRows, kCols, kSlices, kSteps), doctest::Contains("'adc_bits' = 0"),
                       Error);
  CHECK_THROWS_WITH_AS(snn_cost(net, p, "adc", 4, 0, kCols, kSlices, kSteps), doctest::Contains("'tile_rows' = 0"),
                       Error);
  CHECK_THROWS_WITH_AS(snn_cost(net, p, "adc", 4, kRows, 0, kSlices, kSteps), doctest::Contains("'tile_cols' = 0"),
                       Error);
  CHECK_THROWS_WITH_AS(snn_cost(net, p, "adc", 4, kRows, kCols, 0, kSteps), doctest::Contains("'weight_slices' = 0"),
                       Error);
  CHECK_THROWS_WITH_AS(snn_cost(net, p, "adc", 4, kRows, kCols, kSlices, 0), doctest::Contains("'steps' = 0"), Error);
  CHECK_THROWS_WITH_AS(run(p, {}), doctest::Contains("no layers"), Error);
  std::vector<SnnLayerWork> bad = net;
  bad[1].input_activity = 1.5;
  CHECK_THROWS_WITH_AS(run(p, bad), doctest::Contains("'fc': input_activity = 1.5"), Error);
  bad = net;
  bad[0].rows = 0;
  CHECK_THROWS_WITH_AS(run(p, bad), doctest::Contains("'conv': rows = 0"), Error);
  bad = net;
  bad[0].cols = -1;
  CHECK_THROWS_WITH_AS(run(p, bad), doctest::Contains("'conv': cols = -1"), Error);
  bad = net;
  bad[1].mvms = 0;
  CHECK_THROWS_WITH_AS(run(p, bad), doctest::Contains("'fc': mvms = 0"), Error);
}
