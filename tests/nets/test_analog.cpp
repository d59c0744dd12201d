// Analog execution of networks: noise-free analog equals digital, tile-split invariance, stream
// determinism, accuracy falls with programming variation, clear errors for bad mappings.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/stats.hpp"
#include "data/synthetic.hpp"
#include "nets/analog.hpp"
#include "nets/network.hpp"
#include "nets/train.hpp"

using namespace aimc;
using namespace aimc::nets;

namespace {

struct Fixture {
  data::Dataset train_set, test_set;
  Network net;
};

/// A small trained MLP (16-48-24-4) on Gaussian blobs, and a conv net on bar images.
const Fixture& mlp_fixture() {
  static const Fixture f = [] {
    Fixture f;
    data::BlobsParams bp;
    bp.samples = 3000;
    bp.features = 16;
    bp.classes = 4;
    bp.separation = 3.0;
    Stream s(21, "test.analog.blobs");
    auto all = data::make_blobs(bp, s);
    f.train_set = all.head(2000);
    f.test_set = all;
    f.test_set.x = all.x.bottomRows(1000);
    f.test_set.y = all.y.tail(1000);
    f.net = Network(Shape{16, 1, 1});
    f.net.add(make_layer({"flatten", {{"c", 16}, {"h", 1}, {"w", 1}}}));
    f.net.add(make_layer({"dense", {{"in", 16}, {"out", 48}}}));
    f.net.add(make_layer({"relu", {{"c", 48}, {"h", 1}, {"w", 1}}}));
    f.net.add(make_layer({"dense", {{"in", 48}, {"out", 24}}}));
    f.net.add(make_layer({"relu", {{"c", 24}, {"h", 1}, {"w", 1}}}));
    f.net.add(make_layer({"dense", {{"in", 24}, {"out", 4}}}));
    Stream init(1, "init");
    f.net.init(init);
    TrainParams tp;
    tp.epochs = 5;
    tp.batch_size = 50;
    train(f.net, f.train_set, nullptr, tp, {}, false);
    return f;
  }();
  return f;
}

const Fixture& cnn_fixture() {
  static const Fixture f = [] {
    Fixture f;
    data::ImagesParams ip;
    ip.samples = 900;
    ip.classes = 4;
    ip.size = 8;
    Stream s(22, "test.analog.bars");
    auto all = data::make_bar_images(ip, s);
    f.train_set = all.head(600);
    f.test_set = all;
    f.test_set.x = all.x.bottomRows(300);
    f.test_set.y = all.y.tail(300);
    f.net = Network(Shape{1, 8, 8});
    f.net.add(make_layer({"conv2d", {{"in_c", 1}, {"in_h", 8}, {"in_w", 8}, {"out_c", 6}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}}));
    f.net.add(make_layer({"relu", {{"c", 6}, {"h", 8}, {"w", 8}}}));
    f.net.add(make_layer({"maxpool2d", {{"in_c", 6}, {"in_h", 8}, {"in_w", 8}, {"kernel", 2}, {"stride", 2}}}));
    f.net.add(make_layer({"flatten", {{"c", 6}, {"h", 4}, {"w", 4}}}));
    f.net.add(make_layer({"dense", {{"in", 96}, {"out", 4}}}));
    Stream init(2, "init");
    f.net.init(init);
    TrainParams tp;
    tp.epochs = 4;
    tp.batch_size = 30;
    train(f.net, f.train_set, nullptr, tp, {}, false);
    return f;
  }();
  return f;
}

AnalogConfig ideal_config() {
  AnalogConfig c;
  c.mapping.readout = "ideal";
  c.dac.bits = 24;
  return c;
}

Matrix digital_logits(const Fixture& f) {
  Network n = f.net.clone();
  return n.forward(f.test_set.x);
}

std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("analog: noise-free analog execution reproduces the digital network") {
  for (const Fixture* f : {&mlp_fixture(), &cnn_fixture()}) {
    const Matrix ref = digital_logits(*f);
    Network n = f->net.clone();
    const double acc_digital = double(count_correct(ref, f->test_set.y)) / double(ref.rows());
    SUBCASE("ideal read-out, 24-bit DAC") {
      AnalogConfig c = ideal_config();
      c.mapping.tile_rows = 7;  // several tiles per layer
      c.mapping.tile_cols = 5;
      // Calibrated on the evaluated inputs themselves, so neither DAC nor ADC clips.
      AnalogNetwork an(f->net, c, f->test_set.x);
      auto inst = an.program(Stream(1, "prog"));
      Matrix x = an.prefix(f->test_set.x);
      Matrix out = inst->forward(x, Stream(1, "read"), 0);
      // 24-bit DAC: relative input error <= 2^-24 per element, far below float accumulation error.
      const double scale = ref.cwiseAbs().maxCoeff();
      CHECK((out - ref).cwiseAbs().maxCoeff() <= 1e-4 * scale);
      CHECK(count_correct(out, f->test_set.y) == count_correct(ref, f->test_set.y));
    }
    SUBCASE("16-bit ADC and DAC, noise off: identical accuracy") {
      AnalogConfig c;
      c.dac.bits = 16;
      c.adc.bits = 16;
      c.adc.calibration = "max";
      AnalogNetwork an(f->net, c, f->test_set.x);
      auto inst = an.program(Stream(1, "prog"));
      AnalogStats s = inst->evaluate(an.prefix(f->test_set.x), f->test_set.y, Stream(1, "read"));
      INFO("digital " << acc_digital << ", analog " << double(s.correct) / double(s.total));
      CHECK(s.correct == count_correct(ref, f->test_set.y));
      // Only the calibration extremes themselves, moved by the rounding of earlier layers, can fall
      // just outside the "max" range: a handful of conversions, under 1e-3 of them.
      CHECK(s.adc_saturated * 1000 <= s.adc_conversions);
      for (double snr : s.snr_db()) CHECK(snr > 60.0);  // 16-bit converters: ~90 dB; noise sources off
    }
  }
}

TEST_CASE("analog: splitting a layer over tiles does not change its outputs (ideal read-out)") {
  const Fixture& f = mlp_fixture();
  AnalogConfig one = ideal_config(), many = ideal_config();
  one.mapping.tile_rows = one.mapping.tile_cols = 1024;
  many.mapping.tile_rows = 5;
  many.mapping.tile_cols = 3;
  AnalogNetwork a(f.net, one, f.train_set.x.topRows(100)), b(f.net, many, f.train_set.x.topRows(100));
  CHECK(a.tile_grid(0) == std::pair{1, 1});
  CHECK(b.tile_grid(0) == std::pair{4, 16});
  Matrix x = a.prefix(f.test_set.x);
  Matrix ya = a.program(Stream(3, "p"))->forward(x, Stream(3, "r"), 0);
  Matrix yb = b.program(Stream(3, "p"))->forward(x, Stream(3, "r"), 0);
  // Only the float summation order differs: bound |error| by K * eps * sum |x||w| ~ 48 * 6e-8 * scale.
  CHECK((ya - yb).cwiseAbs().maxCoeff() <= 1e-5 * ya.cwiseAbs().maxCoeff());
}

TEST_CASE("analog: the draws do not depend on the slab size, with every noise source on") {
  // Slabs of 1 row, 7 rows, and the default: each tile's read stream and its read-out stream continue
  // their sequences across slabs, so every row gets the same numbers. Eigen may sum a product in
  // another order for another row count (a different last bit, rarely a different ADC code), so the
  // check is: at most 0.5% of the outputs differ by more than 1e-5 of the largest, and the ADC
  // saturation counts by at most 0.5%. Draws that moved would change almost every output by the
  // noise (sigma_read 2% of the conductance range, ADC noise 0.5 LSB).
  struct Case {
    const Fixture* f;
    std::string substrate, readout;
    int dac_bits, tile_rows;
    bool bit_serial;
  };
  for (const Case& k : {Case{&mlp_fixture(), "rram", "adc", 8, 16, false}, Case{&cnn_fixture(), "rram", "adc", 8, 16, false},
                        Case{&mlp_fixture(), "rram", "ideal", 8, 128, false},
                        Case{&cnn_fixture(), "rram", "sense_amp", 8, 16, false}, Case{&mlp_fixture(), "rram", "adc", 4, 16, true},
                        Case{&mlp_fixture(), "sram_qs", "adc", 6, 16, false}, Case{&cnn_fixture(), "mosfet", "adc", 6, 16, false}}) {
    AnalogConfig c;
    c.mapping.substrate = k.substrate;
    c.mapping.readout = k.readout;
    c.mapping.tile_rows = k.tile_rows;
    c.mapping.tile_cols = 8;
    c.rram.sigma_prog = 0.05;
    c.rram.sigma_read = 0.02;
    c.adc.sigma_adc_lsb = 0.5;
    c.sense_amp.sigma_read_sa = 0.05;
    c.dac.bits = k.dac_bits;
    c.dac.bit_serial = k.bit_serial;
    const Fixture& f = *k.f;
    AnalogNetwork an(f.net, c, f.train_set.x.topRows(100));
    const Matrix x = an.prefix(f.test_set.x.topRows(40));
    auto out = [&](int slab) {
      auto inst = an.program(Stream(4, "prog"));
      if (slab > 0) inst->set_slab_rows(slab);
      AnalogStats st;
      Matrix y = inst->forward(x, Stream(4, "read"), 3, &st, false);
      return std::pair{y, double(st.adc_saturated)};
    };
    const std::string what = k.substrate + " / " + k.readout + (k.bit_serial ? " / bit-serial" : "");
    INFO(what);
    const auto [y0, sat0] = out(0);
    const double scale = y0.cwiseAbs().maxCoeff();
    for (int slab : {1, 7}) {
      const auto [y, sat] = out(slab);
      const auto moved = ((y - y0).array().abs() > 1e-5f * float(scale)).count();
      INFO("slab " << slab << ": " << moved << " of " << y.size() << " outputs moved; saturations " << sat << " vs "
                   << sat0);
      CHECK(double(moved) <= 0.005 * double(y.size()));
      CHECK(std::abs(sat - sat0) <= 0.005 * std::max(sat0, 1.0));
    }
  }
}

TEST_CASE("analog: instances are keyed by their streams") {
  const Fixture& f = mlp_fixture();
  AnalogConfig c;
  c.rram.sigma_prog = 0.05;
  c.rram.sigma_read = 0.01;
  AnalogNetwork an(f.net, c, f.train_set.x.topRows(100));
  Matrix x = an.prefix(f.test_set.x.topRows(50));
  auto y = [&](std::uint64_t p, std::uint64_t r) { return an.program(Stream(p, "prog"))->forward(x, Stream(r, "read"), 0); };
  CHECK(y(1, 1) == y(1, 1));
  CHECK(y(1, 1) != y(2, 1));  // other devices
  CHECK(y(1, 1) != y(1, 2));  // same devices, other reads
}

TEST_CASE("analog: accuracy falls as RRAM programming variation grows (statistical)") {
  // 25 device instances per sigma; a fixed test set of 1000 samples. The mean accuracy must not rise
  // from one sigma to the next by more than 3 standard errors of the difference of two independent
  // means, and the largest sigma must be significantly below sigma = 0 (more than 3 SE).
  const Fixture& f = mlp_fixture();
  const std::vector<double> sigmas = {0.0, 0.05, 0.1, 0.2, 0.4};
  const int trials = 25;
  std::vector<double> means, ses;
  for (double sg : sigmas) {
    AnalogConfig c;
    c.rram.sigma_prog = sg;
    AnalogNetwork an(f.net, c, f.train_set.x.topRows(200));
    Matrix x = an.prefix(f.test_set.x);
    std::vector<double> acc;
    for (int t = 0; t < trials; ++t) {
      auto inst = an.program(Stream(5, "prog", {std::uint64_t(t)}));
      auto s = inst->evaluate(x, f.test_set.y, Stream(5, "read", {std::uint64_t(t)}));
      acc.push_back(double(s.correct) / double(s.total));
    }
    means.push_back(stats::mean(acc));
    // sd of the mean, floored at the binomial sd of one 1000-sample accuracy over all trials (sigma 0
    // has zero spread across instances).
    const double binom = std::sqrt(0.25 / 1000.0 / trials);
    ses.push_back(std::max(stats::stddev(acc) / std::sqrt(double(trials)), binom));
    MESSAGE("sigma_prog " << sg << ": mean accuracy " << means.back() << " (SE " << ses.back() << ")");
  }
  for (std::size_t i = 1; i < means.size(); ++i)
    CHECK(means[i] <= means[i - 1] + 3.0 * std::hypot(ses[i], ses[i - 1]));
  CHECK(means.back() < means.front() - 3.0 * std::hypot(ses.front(), ses.back()));
}

TEST_CASE("analog: SRAM, MOSFET substrates and the sense amplifier run whole networks") {
  const Fixture& f = mlp_fixture();
  const double acc_digital = double(count_correct(digital_logits(f), f.test_set.y)) / double(f.test_set.x.rows());
  for (std::string sub : {"sram_qs", "sram_is", "sram_qr", "mosfet"}) {
    AnalogConfig c;
    c.mapping.substrate = sub;
    c.mapping.tile_rows = 32;
    c.dac.bits = 6;
    AnalogNetwork an(f.net, c, f.train_set.x.topRows(200));
    auto s = an.program(Stream(1, "prog"))->evaluate(an.prefix(f.test_set.x), f.test_set.y, Stream(1, "read"));
    const double acc = double(s.correct) / double(s.total);
    MESSAGE(sub << ": accuracy " << acc << " (digital " << acc_digital << "), layer SNRs " << s.snr_db()[0] << " "
                << s.snr_db()[1] << " " << s.snr_db()[2] << " dB");
    // These substrates quantize weights to a few bits and add noise; on this easy task a working
    // mapping stays far above chance (25%), a broken one (wrong scale or sign) does not.
    CHECK(acc > 0.6);
  }
  AnalogConfig c;
  c.mapping.readout = "sense_amp";
  c.mapping.analog_layers = "inner";
  AnalogNetwork an(f.net, c, f.train_set.x.topRows(200));
  CHECK(an.analog_layers().size() == 1);
  auto s = an.program(Stream(1, "prog"))->evaluate(an.prefix(f.test_set.x), f.test_set.y, Stream(1, "read"));
  MESSAGE("sense-amp read-out on the inner layer: accuracy " << double(s.correct) / double(s.total));
  CHECK(double(s.correct) / double(s.total) > 0.4);
}

TEST_CASE("analog: bad mappings are rejected with the parameter named") {
  const Fixture& f = mlp_fixture();
  AnalogConfig c;
  c.mapping.analog_layers = "0,7";
  CHECK(error_of([&] { AnalogNetwork(f.net, c, f.train_set.x.topRows(10)); }).find("mapping.analog_layers") !=
        std::string::npos);
  c = AnalogConfig{};
  c.mapping.tile_rows = 0;
  CHECK(error_of([&] { AnalogNetwork(f.net, c, f.train_set.x.topRows(10)); }).find("mapping.tile_rows") !=
        std::string::npos);
  c = AnalogConfig{};
  c.mapping.substrate = "sram_qs";
  c.dac.bit_serial = true;
  CHECK(error_of([&] { AnalogNetwork(f.net, c, f.train_set.x.topRows(10)); }).find("dac.bit_serial") !=
        std::string::npos);
  c = AnalogConfig{};
  CHECK(error_of([&] { AnalogNetwork(f.net, c, Matrix::Zero(4, 3)); }).find("features") != std::string::npos);
  CHECK(c.set("rram.sigma_prog", 0.1));
  CHECK(c.rram.sigma_prog == 0.1);
  CHECK_FALSE(c.set("rram.sigma_prgo", 0.1));
  CHECK_FALSE(c.set("rram.rows", 64));  // tile size lives in mapping.tile_rows
}

TEST_CASE("analog: per-layer overrides choose substrate, read-out and converters per layer") {
  const Fixture& f = mlp_fixture();
  AnalogConfig c;
  c.mapping.readout = "ideal";
  c.dac.bits = 24;
  AnalogConfig::LayerOverride o;
  o.ordinal = 1;
  o.strings = {{"mapping.substrate", "sram_qr"}, {"mapping.readout", "adc"}};
  o.numbers = {{"adc.bits", 3}, {"mapping.tile_rows", 16}, {"dac.bits", 6}};
  c.overrides.push_back(o);
  const AnalogConfig l1 = c.for_layer(1), l0 = c.for_layer(0);
  CHECK(l1.mapping.substrate == "sram_qr");
  CHECK(l1.adc.bits == 3);
  CHECK(l0.mapping.substrate == "rram");
  CHECK(l0.mapping.readout == "ideal");
  AnalogNetwork an(f.net, c, f.test_set.x);  // calibrated on the evaluated inputs: no DAC clipping
  CHECK(an.tile_grid(1) == std::pair{3, 1});  // 48 rows in tiles of 16, 24 columns in one tile of 128
  CHECK(an.tile_grid(0) == std::pair{1, 1});
  auto s = an.program(Stream(1, "prog"))->evaluate(an.prefix(f.test_set.x), f.test_set.y, Stream(1, "read"));
  const auto snr = s.snr_db();
  MESSAGE("per-layer SNR with layer 1 on QR + 3-bit ADC: " << snr[0] << " " << snr[1] << " " << snr[2] << " dB");
  // Layers 0 and 2 are ideal (24-bit DAC, no conversion): their SNR is limited by float rounding
  // only (> 100 dB); layer 1 with a 3-bit ADC cannot exceed 6.02 * 3 + 4.77 + a few dB of headroom.
  CHECK(snr[0] > 100.0);
  CHECK(snr[2] > 100.0);
  CHECK(snr[1] < 30.0);
  c.overrides[0].ordinal = 9;
  CHECK(error_of([&] { AnalogNetwork(f.net, c, f.train_set.x.topRows(10)); }).find("layer override 9") !=
        std::string::npos);
  c.overrides[0].ordinal = 1;
  c.overrides[0].numbers.push_back({"adc.bits", 0});
  CHECK(error_of([&] { c.validate(); }).find("adc.bits") != std::string::npos);
}

TEST_CASE("analog: weight bit-slicing recombines to the B-bit quantized weights") {
  const Fixture& f = mlp_fixture();
  AnalogConfig c = ideal_config();
  c.mapping.weight_slices = 3;
  c.mapping.slice_bits = 2;  // B = 6 bits of magnitude
  // Calibrated on doubled inputs: the DAC ranges then cover the activations of the quantized network
  // too (calibration on the float network's own activations would clip a few of them).
  AnalogNetwork an(f.net, c, Matrix(2.0f * f.test_set.x));
  Matrix x = an.prefix(f.test_set.x);
  Matrix out = an.program(Stream(1, "p"))->forward(x, Stream(1, "r"), 0);
  // Reference: the same network with every analog layer's weights quantized to 6 bits digitally.
  Network q = f.net.clone();
  std::size_t l = 0;
  for (std::size_t i = 0; i < q.size(); ++i) {
    auto* ml = dynamic_cast<MatmulLayer*>(&q.layer(i));
    if (!ml) continue;
    Matrix& W = q.layer(i).parameters()[0]->value;
    const float w_max = float(an.w_max(l++));
    for (Eigen::Index k = 0; k < W.size(); ++k) {
      const float v = W.data()[k];
      W.data()[k] = std::copysign(std::round(std::abs(v) / w_max * 63.f) / 63.f * w_max, v);
    }
  }
  const Matrix ref = q.forward(f.test_set.x);
  const Matrix unq = digital_logits(f);
  INFO("max |sliced - quantized| " << (out - ref).cwiseAbs().maxCoeff() << ", max |sliced - float| "
                                   << (out - unq).cwiseAbs().maxCoeff());
  // Float rounding only (the 24-bit DAC and the recombination add ~1e-6 relative error) ...
  CHECK((out - ref).cwiseAbs().maxCoeff() <= 1e-4 * ref.cwiseAbs().maxCoeff());
  // ... while 6-bit weights differ visibly from the float network (the test can tell them apart).
  CHECK((out - unq).cwiseAbs().maxCoeff() > 1e-3 * unq.cwiseAbs().maxCoeff());
  // With programming variation every slice draws its own devices: instances differ from ideal.
  c.rram.sigma_prog = 0.05;
  c.mapping.readout = "adc";
  AnalogNetwork noisy(f.net, c, f.train_set.x.topRows(200));
  auto s1 = noisy.program(Stream(2, "p"))->evaluate(noisy.prefix(f.test_set.x), f.test_set.y, Stream(2, "r"));
  MESSAGE("3 x 2-bit slices, sigma_prog 0.05: accuracy " << double(s1.correct) / double(s1.total) << ", SNRs "
                                                      << s1.snr_db()[0] << " " << s1.snr_db()[1] << " dB");
  CHECK(s1.snr_db()[0] < 60.0);
}

TEST_CASE("analog: the trial-invariant input cache serves exactly what the full computation gives") {
  // The first evaluation of each chunk by an AnalogNetwork records the first layer's quantized input
  // and SNR reference products; later instances are served from it. The oracle is a fresh
  // AnalogNetwork of the same design whose first evaluation computes everything. Every noise source is
  // on, so served values that were wrong would move outputs, counts and energies.
  struct Case {
    const Fixture* f;
    bool bit_serial;
  };
  for (const Case& k : {Case{&mlp_fixture(), false}, Case{&cnn_fixture(), false}, Case{&mlp_fixture(), true}}) {
    INFO((k.f == &mlp_fixture() ? "mlp" : "cnn") << (k.bit_serial ? ", bit-serial DAC" : ""));
    AnalogConfig c;
    c.mapping.tile_rows = 16;
    c.mapping.tile_cols = 8;
    c.rram.sigma_prog = 0.05;
    c.rram.sigma_read = 0.02;
    c.adc.sigma_adc_lsb = 0.5;
    c.dac.bits = k.bit_serial ? 4 : 6;  // 6 bits: some inputs saturate the DAC range of the calibration
    c.dac.bit_serial = k.bit_serial;
    c.mapping.input_percentile = 99.0;
    const Fixture& f = *k.f;
    const Matrix calib = f.train_set.x.topRows(100);
    AnalogNetwork an(f.net, c, calib);
    const Matrix x = an.prefix(f.test_set.x.topRows(120));
    const VectorI y = f.test_set.y.head(120);
    auto eval = [&](const AnalogNetwork& a, const Matrix& in, std::uint64_t trial) {
      return a.program(Stream(7, "prog", {trial}))->evaluate(in, y, Stream(7, "read", {trial}), 50, 120);
    };
    auto same = [](const AnalogStats& a, const AnalogStats& b) {
      CHECK(a.correct == b.correct);
      CHECK(a.loss_sum == b.loss_sum);
      CHECK(a.adc_saturated == b.adc_saturated);
      CHECK(a.adc_conversions == b.adc_conversions);
      CHECK(a.dac_saturated == b.dac_saturated);
      CHECK(a.signal == b.signal);
      CHECK(a.noise == b.noise);
    };
    CHECK(an.cached_chunks() == 0);
    eval(an, x, 0);
    CHECK(an.cached_chunks() == 3);  // chunks of 50, 50 and 20 samples of the first analog layer
    const AnalogStats served = eval(an, x, 1);
    AnalogNetwork fresh(f.net, c, calib);
    const AnalogStats full = eval(fresh, x, 1);
    same(served, full);
    if (!k.bit_serial) CHECK(full.dac_saturated > 0);
    // Another input under the same chunk keys: not served from the entries of the first one.
    Matrix x2 = x;
    x2(60, 0) += 0.25f;
    AnalogNetwork fresh2(f.net, c, calib);
    same(eval(an, x2, 2), eval(fresh2, x2, 2));
  }
}

TEST_CASE("analog: an instance drawn anew in place equals a freshly programmed one") {
  // AnalogNetwork::program(inst, stream) reuses the tiles of a previous draw (RRAM: in place; other
  // substrates: new arrays); the oracle is program(stream) on a new instance. Every RRAM mechanism
  // with a draw is on (variation, stuck-at faults, drift with spread, relative read noise), and the
  // sense-amplifier read-out, whose offsets are drawn at programming, is one of the cases.
  struct Case {
    const Fixture* f;
    std::string substrate, readout;
  };
  for (const Case& k : {Case{&mlp_fixture(), "rram", "adc"}, Case{&cnn_fixture(), "rram", "sense_amp"},
                        Case{&mlp_fixture(), "sram_qs", "adc"}}) {
    INFO(k.substrate << " / " << k.readout);
    AnalogConfig c;
    c.mapping.substrate = k.substrate;
    c.mapping.readout = k.readout;
    c.mapping.tile_rows = 16;
    c.mapping.tile_cols = 8;
    c.rram.sigma_prog = 0.05;
    c.rram.prog_model = "lognormal";
    c.rram.p_stuck_min = 0.01;
    c.rram.p_stuck_max = 0.01;
    c.rram.t_read_s = 3600;
    c.rram.drift_nu = 0.01;
    c.rram.sigma_drift_nu = 0.005;
    c.rram.read_model = "relative";
    c.rram.sigma_read = 0.02;
    c.sense_amp.sigma_sa = 0.05;
    const Fixture& f = *k.f;
    AnalogNetwork an(f.net, c, f.train_set.x.topRows(100));
    const Matrix x = an.prefix(f.test_set.x.topRows(60));
    auto reused = an.program(Stream(9, "prog", {1}));
    const Matrix y1 = reused->forward(x, Stream(9, "read"), 0);
    an.program(*reused, Stream(9, "prog", {2}));
    const Matrix y2 = reused->forward(x, Stream(9, "read"), 0);
    const Matrix fresh2 = an.program(Stream(9, "prog", {2}))->forward(x, Stream(9, "read"), 0);
    CHECK(y2 == fresh2);
    CHECK(y1 != y2);  // the second draw is another chip
    for (std::size_t l = 0; l < an.analog_layers().size(); ++l) {
      const auto fresh = an.program(Stream(9, "prog", {2}));
      for (std::size_t t = 0; t < reused->tiles(l).size(); ++t)
        CHECK(reused->tiles(l)[t]->effective_weights() == fresh->tiles(l)[t]->effective_weights());
    }
    AnalogNetwork other(f.net, c, f.train_set.x.topRows(100));
    CHECK(error_of([&] { other.program(*reused, Stream(9, "prog", {3})); }) ==
          "AnalogNetwork::program: the instance was programmed by another network");
  }
}
