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

TEST_CASE("analog: analog_layer_indices resolves mapping.analog_layers to node indices, as AnalogNetwork does") {
  // The MLP fixture's nodes: flatten 0, dense 1, relu 2, dense 3, relu 4, dense 5 (written out here).
  const Fixture& f = mlp_fixture();
  MappingParams m;
  using V = std::vector<std::size_t>;
  CHECK(analog_layer_indices(f.net, m) == V{1, 3, 5});
  m.analog_layers = "inner";
  CHECK(analog_layer_indices(f.net, m) == V{3});
  m.analog_layers = "2, 0,2";
  CHECK(analog_layer_indices(f.net, m) == V{1, 5});
  AnalogConfig c;
  c.mapping = m;
  CHECK(AnalogNetwork(f.net, c, f.train_set.x.topRows(10)).analog_layers() == V{1, 5});
  m.analog_layers = "3";
  CHECK(error_of([&] { analog_layer_indices(f.net, m); }).find("mapping.analog_layers") != std::string::npos);
}

TEST_CASE("analog: mapping.input_range = model takes each layer's DAC full scale from the model's ranges") {
  const Fixture& f = mlp_fixture();
  AnalogConfig c;
  c.mapping.input_range = "model";
  const Matrix cal = f.train_set.x.topRows(10);
  CHECK(error_of([&] { AnalogNetwork(f.net, c, cal); }).find("mapping.input_range") != std::string::npos);
  const AnalogNetwork ref(f.net, AnalogConfig{}, cal);
  for (std::size_t l = 0; l < ref.analog_layers().size(); ++l)
    c.input_ranges.emplace_back(f.net.name(ref.analog_layers()[l]), 0.25 * double(l + 1));
  const AnalogNetwork an(f.net, c, cal);
  for (std::size_t l = 0; l < an.analog_layers().size(); ++l) {
    CHECK(an.x_max(l) == 0.25 * double(l + 1));
    CHECK(ref.x_max(l) != an.x_max(l));  // the calibrated one differs: the ranges were used
  }
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

namespace {

/// The layer's combined weights sum_s g_s W_s (K x N) from its tiles, assembled from the tile grid
/// (tiles row-major over (slice, row block, column block)) and the slice gains of analog.hpp,
/// g_s = (2^b - 1) 2^(s b) / (2^(S b) - 1): either the weights at t or the reference weights.
MatrixD assembled(const AnalogInstance& inst, std::size_t l, int K, int N, int tile_rows, int tile_cols, int S,
                  int b, bool reference) {
  MatrixD w = MatrixD::Zero(K, N);
  const int rb = (K + tile_rows - 1) / tile_rows, cb = (N + tile_cols - 1) / tile_cols;
  REQUIRE(inst.tiles(l).size() == std::size_t(S * rb * cb));
  const double full = std::ldexp(1.0, S * b) - 1.0;
  std::size_t t = 0;
  for (int s = 0; s < S; ++s) {
    const double g = S == 1 ? 1.0 : (std::ldexp(1.0, b) - 1.0) * std::ldexp(1.0, s * b) / full;
    for (int r = 0; r < rb; ++r)
      for (int c = 0; c < cb; ++c, ++t) {
        const auto& tile = *inst.tiles(l)[t];
        const Matrix m = reference ? tile.reference_weights() : tile.effective_weights();
        w.block(r * tile_rows, c * tile_cols, m.rows(), m.cols()) += g * m.cast<double>();
      }
  }
  return w;
}

}  // namespace

TEST_CASE("analog: drift compensation restores the identity probe's mean |y| (PCM, one year)") {
  // One Dense layer 40 -> 20 (bias 0) on PCM tiles of 16 x 8 (3 x 3 tiles), every PCM mechanism on at
  // t_inference = 1 year, ideal read-out, 24-bit DAC calibrated on the probe itself (x_max = 1, so the
  // unit inputs pass exactly). The probe: the 40 x 40 identity through AnalogInstance::forward, i.e.
  // the whole layer pipeline; its outputs are alpha * sum_s g_s W_s,t. The oracle is the reference
  // weights assembled from the tiles (programming noise only, pcm.hpp). Tolerance: every output is
  // rounded at most S + 1 times (slice sum, alpha) and alpha once, so |mean |y| - mean |W_ref|| <=
  // 8 u (mean of sum_s g_s |W_s,t| alpha + mean |W_ref|), u = 2^-24 (a generous count of the roundings).
  Network net(Shape{40, 1, 1});
  net.add(make_layer({"flatten", {{"c", 40}, {"h", 1}, {"w", 1}}}));
  net.add(make_layer({"dense", {{"in", 40}, {"out", 20}}}));
  Stream init(8, "init");
  net.init(init);
  net.layer(1).parameters()[1]->value.setZero();
  const Matrix probe = Matrix::Identity(40, 40);
  const double u = std::ldexp(1.0, -24);
  for (int S : {1, 2}) {
    for (std::string mode : {"none", "global", "column"}) {
      INFO("weight slices " << S << ", drift_compensation " << mode);
      AnalogConfig c = ideal_config();
      c.mapping.substrate = "pcm";
      c.mapping.tile_rows = 16;
      c.mapping.tile_cols = 8;
      c.mapping.weight_slices = S;
      c.mapping.slice_bits = 4;
      c.mapping.drift_compensation = mode;
      c.pcm.t_inference_s = 3.1536e7;
      AnalogNetwork an(net, c, probe);
      auto inst = an.program(Stream(8, "prog"));
      const Matrix y = inst->forward(an.prefix(probe), Stream(8, "read"), 0);
      const MatrixD ref = assembled(*inst, 0, 40, 20, 16, 8, S, 4, true).cwiseAbs();
      const MatrixD now = assembled(*inst, 0, 40, 20, 16, 8, S, 4, false).cwiseAbs();
      const MatrixD ya = y.cast<double>().cwiseAbs();
      const auto& alpha = inst->compensation(0);
      CHECK(alpha.size() == (mode == "none" ? 0u : mode == "global" ? 1u : 20u));
      if (mode == "none") {
        // One year of drift shrinks the probe by about (1.6e6)^-0.05..0.1: far outside any tolerance.
        CHECK(ya.mean() < 0.8 * ref.mean());
        continue;
      }
      double a_max = 0;
      for (float a : alpha) a_max = std::max(a_max, double(a));
      CHECK(a_max > 1.2);
      if (mode == "global") {
        const double tol = 8 * u * (now.mean() * a_max + ref.mean());
        INFO("mean |y| " << ya.mean() << ", reference " << ref.mean() << ", tolerance " << tol);
        CHECK(std::abs(ya.mean() - ref.mean()) <= tol);
        // One factor cannot restore every column: the columns drift by different amounts.
        double worst = 0;
        for (int j = 0; j < 20; ++j) worst = std::max(worst, std::abs(ya.col(j).mean() / ref.col(j).mean() - 1));
        CHECK(worst > 1e-3);
      } else {
        for (int j = 0; j < 20; ++j) {
          const double tol = 8 * u * (now.col(j).mean() * a_max + ref.col(j).mean());
          INFO("column " << j << ": mean |y| " << ya.col(j).mean() << ", reference " << ref.col(j).mean());
          CHECK(std::abs(ya.col(j).mean() - ref.col(j).mean()) <= tol);
        }
      }
    }
  }
  SUBCASE("right after programming without 1/f noise the factors are exactly 1") {
    AnalogConfig c = ideal_config();
    c.mapping.substrate = "pcm";
    c.mapping.drift_compensation = "column";
    c.pcm.t_inference_s = 0;
    c.pcm.read_noise_scale = 0;
    AnalogNetwork an(net, c, probe);
    const auto inst = an.program(Stream(8, "prog"));
    REQUIRE(inst->compensation(0).size() == 20);
    for (float a : inst->compensation(0)) CHECK(a == 1.f);
  }
}

TEST_CASE("analog: PCM drift with one exponent and global compensation leaves accuracy exactly unchanged") {
  // The trained MLP (16-48-24-4, every Dense layer analog, one tile each), PCM with programming noise,
  // drift_nu_model constant (nu = 0.05, no spread), no 1/f noise, ideal read-out, 24-bit DAC, global
  // compensation; the same chip (programming stream) at t = 0 and at t = 1 year. Drift scales every
  // conductance by f = ((t + t0) / t0)^-nu, the compensation by 1 / f, so the logits agree up to
  // rounding. The bound is derived per sample and per element, layer by layer (l: K inputs, W = |W_ref|
  // the tiles' reference weights, u = 2^-24, gamma = K u / (1 - K u), x_max the DAC full scale, step =
  // x_max / (2^24 - 1)), from two per-sample vectors: A >= |xq_0| (the t = 0 quantized input; also
  // |xq| <= x_max) and dq >= |xq_t - xq_0|:
  //   W_t = f W_ref (1 + eta), |eta| <= 2u (+ u^2); alpha_f W_t = W_ref (1 + e), |e| <= rho = 5u (+ O(u^2)),
  //     plus the double rounding of the conductance pair, below 2^-48 w_max per weight;
  //   |Y_t - Y_0| <= c (A + dq) W + gamma A W + dq W + 2^-48 w_max sum_i (A + dq)_i,
  //     c = gamma (1 + rho) + u (1 + gamma)(1 + rho) + rho (float GEMM at t, the alpha product, the
  //     weight perturbation; float GEMM at 0; the input change);
  //   bias: |dy| <= (1 + 2u) |dY| + 2u ((1 + gamma) A W + |b|); ReLU is 1-Lipschitz and |relu(y_0)| <=
  //     (1 + gamma)(1 + u)(A W + |b|);
  //   DAC (round to nearest, clamp at x_max): |Q(a) - Q(b)| <= |a - b| + step + 2u x_max, |Q(a)| <=
  //     min(|a| + step + 2u x_max, x_max); dq = 0 at the first layer (the same network input).
  // The accuracies are equal when every sample's top-2 logit margin at t = 0 exceeds the sum of the
  // two logits' bounds; the test asserts that condition, then equal accuracy and the elementwise bound.
  const Fixture& f = mlp_fixture();
  auto config = [](double t, const std::string& comp) {
    AnalogConfig c = ideal_config();
    c.mapping.substrate = "pcm";
    c.mapping.drift_compensation = comp;
    c.pcm.drift_nu_model = "constant";
    c.pcm.drift_nu = 0.05;
    c.pcm.sigma_drift_nu = 0.0;
    c.pcm.read_noise_scale = 0.0;
    c.pcm.t_inference_s = t;
    return c;
  };
  const Matrix calib = f.train_set.x.topRows(200);
  AnalogNetwork a0(f.net, config(0.0, "global"), calib), a1(f.net, config(3.1536e7, "global"), calib);
  AnalogNetwork a1_off(f.net, config(3.1536e7, "none"), calib);
  const Matrix x = a0.prefix(f.test_set.x);
  auto i0 = a0.program(Stream(10, "prog")), i1 = a1.program(Stream(10, "prog"));
  auto i1_off = a1_off.program(Stream(10, "prog"));
  const Matrix y0 = i0->forward(x, Stream(10, "read"), 0), y1 = i1->forward(x, Stream(10, "read"), 0);
  const Matrix y1_off = i1_off->forward(x, Stream(10, "read"), 0);
  CHECK(i0->compensation(0)[0] == 1.f);
  CHECK(i1->compensation(0)[0] > 1.5f);  // f = (1576801)^-0.05 = 0.49

  const double u = std::ldexp(1.0, -24), step_rel = 1.0 / (std::ldexp(1.0, 24) - 1.0);
  const std::size_t n_layers = a0.analog_layers().size();
  REQUIRE(n_layers == 3);
  MatrixD A, dq, e;  // per sample (rows) and element: |xq_0| bound, input change bound, output change bound
  MatrixD y_mag;     // per sample: bound on |y_0| of the previous layer
  for (std::size_t l = 0; l < n_layers; ++l) {
    const auto& ml = dynamic_cast<const MatmulLayer&>(a0.network().layer(a0.analog_layers()[l]));
    const int K = int(ml.weight().rows()), N = int(ml.weight().cols());
    REQUIRE(a0.tile_grid(l) == std::pair{1, 1});
    const MatrixD W = assembled(*i0, l, K, N, 128, 128, 1, 2, true).cwiseAbs();
    CHECK(assembled(*i1, l, K, N, 128, 128, 1, 2, true) == assembled(*i0, l, K, N, 128, 128, 1, 2, true));
    const double xmax = a0.x_max(l), wmax = a0.w_max(l), step = step_rel * xmax;
    REQUIRE(a1.x_max(l) == xmax);
    const MatrixD in = l == 0 ? MatrixD(x.cast<double>().cwiseAbs()) : y_mag;
    A = (in.array() + step + 2 * u * xmax).cwiseMin(xmax).matrix();
    if (l == 0) dq = MatrixD::Zero(x.rows(), K);
    else dq = (e.array() + step + 2 * u * xmax).matrix();
    const double gamma = K * u / (1 - K * u), rho = 5 * u * (1 + 1e-6);
    const double c = gamma * (1 + rho) + u * (1 + gamma) * (1 + rho) + rho;
    const MatrixD AW = A * W, dW = dq * W;
    const Eigen::VectorXd abs_term = (A + dq).rowwise().sum() * std::ldexp(wmax, -48);
    MatrixD eY = c * (AW + dW) + gamma * AW + dW;
    eY.colwise() += abs_term;
    const Eigen::RowVectorXd b = ml.bias().cast<double>().cwiseAbs();
    MatrixD bterm = (1 + gamma) * AW;
    bterm.rowwise() += b;
    e = (1 + 2 * u) * eY + 2 * u * bterm;
    MatrixD mag = AW;
    mag.rowwise() += b;
    y_mag = (1 + gamma) * (1 + u) * mag;
  }
  // e: the bound on each logit of each sample.
  const MatrixD d = (y1 - y0).cast<double>().cwiseAbs();
  INFO("max |logit_1y - logit_0| " << d.maxCoeff() << ", largest bound " << e.maxCoeff() << ", smallest "
                                    << e.minCoeff());
  CHECK((d.array() <= e.array()).all());
  int thin = 0, same = 0;
  double thinnest = 1e30;
  for (Eigen::Index i = 0; i < y0.rows(); ++i) {
    Eigen::Index top = 0, top1 = 0;
    y0.row(i).maxCoeff(&top);
    y1.row(i).maxCoeff(&top1);
    same += top == top1;
    bool guaranteed = true;
    for (Eigen::Index j = 0; j < y0.cols(); ++j)
      if (j != top) {
        const double margin = double(y0(i, top)) - double(y0(i, j));
        if (margin <= e(i, top) + e(i, j)) {
          guaranteed = false;
          thinnest = std::min(thinnest, margin);
        }
      }
    thin += !guaranteed;
  }
  MESSAGE(thin << " of " << y0.rows() << " samples have a top-2 margin within the bound (smallest "
               << thinnest << "); the bound guarantees the prediction of the others");
  // The bound adds |W|-weighted worst cases layer by layer (the observed changes are ~1000x smaller), so
  // a few samples with margins of a few 1e-3 are not covered by it: at most 1%; their predictions are
  // checked directly below, with every other sample's.
  CHECK(thin <= y0.rows() / 100);
  CHECK(same == y0.rows());
  const auto acc0 = count_correct(y0, f.test_set.y), acc1 = count_correct(y1, f.test_set.y);
  MESSAGE("PCM, one exponent: correct at t = 0: " << acc0 << ", at 1 year compensated: " << acc1
                                                   << ", uncompensated: " << count_correct(y1_off, f.test_set.y)
                                                   << " of " << y0.rows() << "; largest logit bound " << e.maxCoeff());
  CHECK(acc1 == acc0);
  // The test has power: without compensation the logits move by far more than the bound.
  CHECK((y1_off - y0).cwiseAbs().maxCoeff() > 1000 * e.maxCoeff());
}
