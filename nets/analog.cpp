#include "nets/analog.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>

#include "core/error.hpp"
#include "core/stats.hpp"
#include "devices/sram_array.hpp"

namespace aimc::nets {

using namespace aimc::devices;

std::span<const Param<MappingParams>> MappingParams::params() {
  using P = MappingParams;
  static const Param<P> t[] = {
      {"substrate", &P::substrate, "", "analog array of every analog layer",
       "RRAM crossbar (ISAAC-style), PCM (Joshi et al., Nat. Commun. 2020), SRAM QS/IS/QR (Gonugondla et al., "
       "TCAD 2021), MOSFET synapse", {},
       {"rram", "pcm", "sram_qs", "sram_is", "sram_qr", "mosfet"}},
      {"readout", &P::readout, "", "column read-out: adc (B-bit), sense_amp (1 bit, ADC-less), ideal (none)",
       "ADC-less mode: Apolinario et al., IEEE TETC 2023", {}, {"adc", "sense_amp", "ideal"}},
      {"analog_layers", &P::analog_layers, "",
       "which Dense/Conv2d layers run analog: all, inner (first and last digital), or ordinals like \"0,2\"",
       "first/last layer digital is common practice (e.g. Joshi et al., Nat. Commun. 2020)"},
      {"tile_rows", &P::tile_rows, "1", "array rows (layer inputs) per tile",
       "128 x 128 crossbars: ISAAC (Shafiee et al., ISCA 2016); DNN+NeuroSim default subarray 128", between(1, 65536)},
      {"tile_cols", &P::tile_cols, "1", "array columns (layer outputs) per tile", "as tile_rows", between(1, 65536)},
      {"input_percentile", &P::input_percentile, "%",
       "DAC full scale: this percentile of |layer inputs| on the calibration batch (100 = max)",
       "max calibration; lower values clip outliers (aihwkit's input range learning serves the same purpose)",
       {0.0, 100.0, true, false}},
      {"input_range", &P::input_range, "",
       "DAC full scale: calibration (input_percentile of |layer inputs|) or model (the full scales hardware-aware "
       "training recorded in the model file, learned or calibrated there)",
       "aihwkit uses the input ranges learned in HWA training at inference (InputRangeParameter)", {},
       {"calibration", "model"}},
      {"weight_slices", &P::weight_slices, "1", "device pairs per weight (bit slices), recombined by shift-and-add",
       "bit-sliced weights: ISAAC (Shafiee et al., ISCA 2016) uses 2-bit cells, 8 slices per 16-bit weight",
       between(1, 16)},
      {"slice_bits", &P::slice_bits, "1", "magnitude bits stored per slice (weight_slices > 1)",
       "ISAAC: 2 bits per memristor cell", between(1, 16)},
      {"drift_compensation", &P::drift_compensation, "",
       "digital scale of each analog layer's output restoring the mean absolute output of an identity probe read "
       "right after programming: none, global (one factor per layer) or column (one per output column)",
       "Joshi et al., Nat. Commun. 2020 (global drift compensation); aihwkit GlobalDriftCompensation / "
       "PerColumnDriftCompensation",
       {}, {"none", "global", "column"}},
  };
  return t;
}

namespace {

template <class S>
void add_numeric(std::vector<std::string>& out, const std::string& section) {
  for (const auto& p : S::params())
    if (!std::holds_alternative<std::string S::*>(p.member)) out.push_back(section + "." + std::string(p.name));
}
template <class P>
void add_numeric_sram(std::vector<std::string>& out, const std::string& section) {
  add_numeric<P>(out, section);
  add_numeric<Technology>(out, section);
  add_numeric<ProcessVariation>(out, section);
}

std::vector<int> parse_layer_list(const std::string& s, int n_matmul) {
  std::vector<int> out;
  if (s == "all") {
    for (int i = 0; i < n_matmul; ++i) out.push_back(i);
    return out;
  }
  if (s == "inner") {
    for (int i = 1; i + 1 < n_matmul; ++i) out.push_back(i);
    return out;
  }
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    tok.erase(0, tok.find_first_not_of(" \t"));
    tok.erase(tok.find_last_not_of(" \t") + 1);
    char* end = nullptr;
    long v = std::strtol(tok.c_str(), &end, 10);
    if (tok.empty() || *end != '\0')
      throw Error("parameter 'mapping.analog_layers' = \"" + s +
                  "\": expected all, inner or a comma-separated list of Dense/Conv2d layer ordinals");
    if (v < 0 || v >= n_matmul)
      throw Error("parameter 'mapping.analog_layers' = \"" + s + "\": ordinal " + std::to_string(v) +
                  " out of range (the network has " + std::to_string(n_matmul) + " Dense/Conv2d layers)");
    if (std::find(out.begin(), out.end(), int(v)) == out.end()) out.push_back(int(v));
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Node indices of the Dense/Conv2d layers of `net`, in order (index k holds ordinal k).
std::vector<std::size_t> matmul_nodes(const Network& net) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < net.size(); ++i)
    if (dynamic_cast<const MatmulLayer*>(&net.layer(i))) out.push_back(i);
  return out;
}

MatmulLayer& as_matmul(Network& net, std::size_t i) { return dynamic_cast<MatmulLayer&>(net.layer(i)); }
const MatmulLayer& as_matmul(const Network& net, std::size_t i) { return dynamic_cast<const MatmulLayer&>(net.layer(i)); }

}  // namespace

std::vector<std::size_t> analog_layer_indices(const Network& net, const MappingParams& m) {
  const std::vector<std::size_t> matmul = matmul_nodes(net);
  std::vector<std::size_t> out;
  for (int o : parse_layer_list(m.analog_layers, int(matmul.size()))) out.push_back(matmul[std::size_t(o)]);
  return out;
}

bool AnalogConfig::set(std::string_view key, double value) {
  const auto dot = key.find('.');
  if (dot == std::string_view::npos) return false;
  const auto sec = key.substr(0, dot), name = key.substr(dot + 1);
  if (sec == "mapping") return aimc::set_param(mapping, name, value);
  if (sec == "rram") return name != "rows" && name != "cols" && aimc::set_param(rram, name, value);
  if (sec == "pcm") return name != "rows" && name != "cols" && aimc::set_param(pcm, name, value);
  if (sec == "dac") return aimc::set_param(dac, name, value);
  if (sec == "adc") return aimc::set_param(adc, name, value);
  if (sec == "sense_amp") return aimc::set_param(sense_amp, name, value);
  if (sec == "sram_qs") return name != "n_rows" && name != "b_x" && devices::set_param(sram_qs, name, value);
  if (sec == "sram_is") return name != "n_rows" && name != "b_x" && devices::set_param(sram_is, name, value);
  if (sec == "sram_qr") return name != "n_rows" && name != "b_x" && devices::set_param(sram_qr, name, value);
  if (sec == "mosfet") return name != "x_max" && aimc::set_param(mosfet, name, value);
  return false;
}

namespace {
template <class S>
bool set_text(S& s, std::string_view name, const std::string& value) {
  const Param<S>* p = find_param<S>(name);
  if (!p || !std::holds_alternative<std::string S::*>(p->member)) return false;
  s.*std::get<std::string S::*>(p->member) = value;
  return true;
}
template <class P>
bool set_text_sram(SramModel<P>& m, std::string_view name, const std::string& value) {
  if (name == "technology") {
    m.tech = devices::technology(value);
    return true;
  }
  return set_text(m.circuit, name, value) || set_text(m.tech, name, value);
}
}  // namespace

bool AnalogConfig::set_string(std::string_view key, const std::string& value) {
  const auto dot = key.find('.');
  if (dot == std::string_view::npos) return false;
  const auto sec = key.substr(0, dot), name = key.substr(dot + 1);
  if (sec == "mapping") return name != "analog_layers" && set_text(mapping, name, value);
  if (sec == "rram") return set_text(rram, name, value);
  if (sec == "pcm") return set_text(pcm, name, value);
  if (sec == "dac") return set_text(dac, name, value);
  if (sec == "adc") return set_text(adc, name, value);
  if (sec == "sense_amp") return set_text(sense_amp, name, value);
  if (sec == "sram_qs") return set_text_sram(sram_qs, name, value);
  if (sec == "sram_is") return set_text_sram(sram_is, name, value);
  if (sec == "sram_qr") return set_text_sram(sram_qr, name, value);
  if (sec == "mosfet") return set_text(mosfet, name, value);
  return false;
}

AnalogConfig AnalogConfig::for_layer(int ordinal) const {
  AnalogConfig c = *this;
  c.overrides.clear();
  for (const auto& o : overrides) {
    if (o.ordinal != ordinal) continue;
    for (const auto& [k, v] : o.strings)
      if (!c.set_string(k, v)) throw Error("layer " + std::to_string(ordinal) + ": '" + k + "' is not a string parameter");
    for (const auto& [k, v] : o.numbers)
      if (!c.set(k, v)) throw Error("layer " + std::to_string(ordinal) + ": '" + k + "' is not a numeric parameter");
  }
  return c;
}

std::vector<std::string> AnalogConfig::numeric_keys() {
  std::vector<std::string> k;
  add_numeric<MappingParams>(k, "mapping");
  add_numeric<RramParams>(k, "rram");
  add_numeric<PcmParams>(k, "pcm");
  add_numeric<DacParams>(k, "dac");
  add_numeric<AdcParams>(k, "adc");
  add_numeric<SenseAmpParams>(k, "sense_amp");
  add_numeric_sram<QsParams>(k, "sram_qs");
  add_numeric_sram<IsParams>(k, "sram_is");
  add_numeric_sram<QrParams>(k, "sram_qr");
  add_numeric<MosfetParams>(k, "mosfet");
  std::erase_if(k, [](const std::string& s) {
    return s == "rram.rows" || s == "rram.cols" || s == "pcm.rows" || s == "pcm.cols" || s.ends_with(".n_rows") ||
           s.ends_with(".b_x") || s == "mosfet.x_max";
  });
  return k;
}

namespace {
PcmParams pcm_for(PcmParams p, const AnalogConfig& c) {
  p.rows = c.mapping.tile_rows;
  p.cols = c.mapping.tile_cols;
  return p;
}
template <class P>
SramModel<P> sram_for(SramModel<P> m, const AnalogConfig& c) {
  m.circuit.n_rows = c.mapping.tile_rows;
  m.circuit.b_x = c.dac.bits;
  return m;
}
}  // namespace

void AnalogConfig::validate() const {
  aimc::validate(mapping, "mapping");
  aimc::validate(dac, "dac");
  const auto& s = mapping.substrate;
  if (s == "rram") {
    RramParams r = rram;
    r.rows = mapping.tile_rows;
    r.cols = mapping.tile_cols;
    aimc::validate(r, "rram");
  } else if (s == "pcm") {
    aimc::validate(pcm_for(pcm, *this), "pcm");
  } else if (s == "mosfet") {
    aimc::validate(mosfet, "mosfet");
  } else {
    if (dac.bit_serial || dac.signed_mode != "differential")
      throw Error("parameter 'dac.bit_serial'/'dac.signed_mode': SRAM substrates apply inputs themselves "
                  "(PWM or bit-serial, signs in two phases); use dac.bit_serial = false, signed_mode = differential");
    if (s == "sram_qs") devices::validate(sram_for(sram_qs, *this));
    if (s == "sram_is") devices::validate(sram_for(sram_is, *this));
    if (s == "sram_qr") devices::validate(sram_for(sram_qr, *this));
  }
  if (mapping.readout == "adc") aimc::validate(adc, "adc");
  if (mapping.readout == "sense_amp") aimc::validate(sense_amp, "sense_amp");
  for (const auto& o : overrides) {
    try {
      for_layer(o.ordinal).validate();
    } catch (const Error& e) {
      throw Error("layer " + std::to_string(o.ordinal) + " override: " + e.what());
    }
  }
}

std::vector<double> AnalogStats::snr_db() const {
  std::vector<double> out(signal.size());
  for (std::size_t i = 0; i < signal.size(); ++i)
    out[i] = noise[i] > 0 ? 10.0 * std::log10(signal[i] / noise[i]) : std::numeric_limits<double>::infinity();
  return out;
}

void AnalogStats::merge(const AnalogStats& o) {
  correct += o.correct;
  total += o.total;
  loss_sum += o.loss_sum;
  adc_saturated += o.adc_saturated;
  adc_conversions += o.adc_conversions;
  dac_saturated += o.dac_saturated;
  if (signal.size() < o.signal.size()) {
    signal.resize(o.signal.size(), 0.0);
    noise.resize(o.noise.size(), 0.0);
  }
  for (std::size_t i = 0; i < o.signal.size(); ++i) {
    signal[i] += o.signal[i];
    noise[i] += o.noise[i];
  }
  snr_samples += o.snr_samples;
}

/// What an analog layer computes from its input alone, kept across trials. A layer that no analog node
/// precedes sees the same input in every trial of a campaign (the digital nodes are deterministic and
/// the owner's weights are fixed at construction: instances only read them), so its quantized input,
/// the DAC saturation count and the SNR reference products X W are the same every trial; computing
/// them once per chunk saves most of the SNR cost of a campaign (the first layer of the reference MLP
/// holds 85% of its MACs). An entry is used only when the input equals, byte for byte, the input it
/// was recorded from, so any other caller gets the full computation; the values it serves were
/// computed by the same expressions on the same operands, so results are bit-identical with and
/// without it. Thread-safe; entries are immutable once published. Memory: at most kBudgetBytes for
/// all caches of the process together, first come first served (results do not depend on which
/// chunks are cached).
class InputCache {
 public:
  static constexpr std::size_t kBudgetBytes = std::size_t(256) << 20;
  struct Entry {
    Matrix x;                     // the layer input the entry was recorded from
    bool has_xq = false;          // single-phase DAC: xq, dac_saturated
    Matrix xq;
    std::uint64_t dac_saturated = 0;
    Eigen::Index slab = 0;        // samples per slab of the reference products (0: none recorded)
    std::vector<Matrix> ref;      // per slab: lower(x) W
    std::vector<double> energy;   // per slab: double(ref.squaredNorm())
    std::size_t bytes() const {
      std::size_t b = std::size_t(x.size() + xq.size()) * sizeof(float);
      for (const auto& r : ref) b += std::size_t(r.size()) * sizeof(float);
      return b;
    }
  };
  ~InputCache() { in_use().fetch_sub(bytes_); }
  /// The entry of `chunk` if it was recorded from an input equal to x.
  std::shared_ptr<const Entry> find(std::uint64_t chunk, const Matrix& x) const {
    std::shared_ptr<const Entry> e;
    {
      std::lock_guard<std::mutex> g(m_);
      auto it = entries_.find(chunk);
      if (it == entries_.end() || !it->second) return nullptr;
      e = it->second;
    }
    if (e->x.rows() != x.rows() || e->x.cols() != x.cols() ||
        std::memcmp(e->x.data(), x.data(), std::size_t(x.size()) * sizeof(float)) != 0)
      return nullptr;
    return e;
  }
  /// Entries held (refusals not counted).
  std::size_t size() const {
    std::lock_guard<std::mutex> g(m_);
    return std::size_t(std::count_if(entries_.begin(), entries_.end(), [](const auto& kv) { return kv.second != nullptr; }));
  }
  /// Whether an entry for `chunk` is still to be recorded: none yet, none refused, budget left.
  bool wanted(std::uint64_t chunk) const {
    std::lock_guard<std::mutex> g(m_);
    return entries_.find(chunk) == entries_.end() && in_use().load() < kBudgetBytes;
  }
  /// Publishes e for `chunk` unless one is there; beyond the budget the chunk is marked refused (an
  /// empty entry), so that later instances do not record it again.
  void insert(std::uint64_t chunk, std::shared_ptr<const Entry> e) {
    const std::size_t b = e->bytes();
    std::lock_guard<std::mutex> g(m_);
    if (entries_.count(chunk)) return;
    if (in_use().fetch_add(b) + b > kBudgetBytes) {
      in_use().fetch_sub(b);
      entries_.emplace(chunk, nullptr);
      return;
    }
    bytes_ += b;
    entries_.emplace(chunk, std::move(e));
  }

 private:
  static std::atomic<std::size_t>& in_use() {
    static std::atomic<std::size_t> n{0};
    return n;
  }
  mutable std::mutex m_;
  std::map<std::uint64_t, std::shared_ptr<const Entry>> entries_;
  std::size_t bytes_ = 0;
};

/// Design data of one analog layer: where it is, how it is cut into tiles, its converters.
struct AnalogNetwork::Layer {
  std::size_t index = 0;  // network layer index
  AnalogConfig cfg;       // this layer's configuration (overrides applied)
  std::vector<Matrix> slices;      // weight slices W_s (weight units); empty: one slice, the weights
  std::vector<float> slice_gain;   // g_s
  int K = 0, N = 0;
  std::vector<int> row0, col0;  // block starts; last entry = K (N)
  float w_max = 1.f;
  std::unique_ptr<Dac> dac;
  std::unique_ptr<ArrayModel> model;
  std::vector<Adc> adcs;                    // per tile (readout adc)
  std::vector<std::vector<double>> sa_scale;  // per tile (readout sense_amp)
  std::unique_ptr<InputCache> cache;          // set when no analog node precedes the layer's input
  /// Index of the arrays this layer reads: its own ordinal, or that of the first analog layer whose
  /// weight is the same tensor (BasisN's shared basis, nets/basisn.hpp), so both are one physical array.
  std::size_t array_key = 0;
  int S() const { return slices.empty() ? 1 : int(slices.size()); }
  int rb() const { return int(row0.size()) - 1; }
  int cb() const { return int(col0.size()) - 1; }
};

/// The product of one analog layer in one instance: its programmed tiles and sense amplifiers, the
/// work buffers of forward() (kept across slabs and chunks so that they reuse their memory instead of
/// allocating and page-faulting per call: one slab's lowered inputs and unquantized ones for the SNR
/// reference, the quantized layer input, one tile's outputs for a slab).
class AnalogInstance::Tiles final : public Product {
 public:
  Tiles(const AnalogNetwork::Layer& design, std::size_t ordinal, const AnalogInstance::Context& ctx)
      : L_(design), l_(ordinal), ctx_(ctx) {}
  void forward(MatmulLayer& ml, const Matrix& x, Matrix& y, Mode mode) override;

  std::vector<std::unique_ptr<ProgrammedArray>> tiles;
  std::vector<SenseAmp> sas;
  std::vector<float> alpha;  // drift compensation: none (empty), global (1) or per column (N)
  /// Sets `alpha` from the programmed tiles (drift compensation, analog.hpp).
  void compensate();

 private:
  const AnalogNetwork::Layer& L_;
  std::size_t l_;
  const AnalogInstance::Context& ctx_;
  Matrix scratch_, scratch_ref_, xq_, part_;
  Matrix probe_t_, probe_ref_;  // the identity probe's readouts (K x N): now and at the reference
};

void AnalogInstance::Tiles::compensate() {
  const auto& L = L_;
  const std::string& mode = L.cfg.mapping.drift_compensation;
  if (mode == "none") {
    alpha.clear();
    return;
  }
  // The identity probe read noise-free through the digital sum of step 4 (analog.hpp): readout
  // sum_s g_s W_s of every tile block, at the time of inference and at the reference.
  probe_t_.setZero(L.K, L.N);
  probe_ref_.setZero(L.K, L.N);
  std::size_t t = 0;
  for (int k = 0; k < L.S(); ++k) {
    const float g = L.slices.empty() ? 1.f : L.slice_gain[std::size_t(k)];
    for (int r = 0; r < L.rb(); ++r)
      for (int c = 0; c < L.cb(); ++c, ++t) {
        const int rk = L.row0[r + 1] - L.row0[r], ck = L.col0[c + 1] - L.col0[c];
        probe_t_.block(L.row0[r], L.col0[c], rk, ck) += g * tiles[t]->effective_weights();
        probe_ref_.block(L.row0[r], L.col0[c], rk, ck) += g * tiles[t]->reference_weights();
      }
  }
  const Eigen::RowVectorXd now = probe_t_.cast<double>().cwiseAbs().colwise().sum();
  const Eigen::RowVectorXd ref = probe_ref_.cast<double>().cwiseAbs().colwise().sum();
  auto ratio = [](double r, double n) { return r > 0.0 && n > 0.0 ? float(r / n) : 1.f; };
  if (mode == "global") {
    alpha.assign(1, ratio(ref.sum(), now.sum()));
  } else {
    alpha.resize(std::size_t(L.N));
    for (int j = 0; j < L.N; ++j) alpha[std::size_t(j)] = ratio(ref(j), now(j));
  }
}

namespace {
std::vector<int> blocks(int n, int size) {
  std::vector<int> b;
  for (int i = 0; i < n; i += size) b.push_back(i);
  b.push_back(n);
  return b;
}
}  // namespace

AnalogNetwork::AnalogNetwork(const Network& net, const AnalogConfig& cfg, const Matrix& calibration)
    : net_(net.clone()), cfg_(cfg) {
  cfg_.validate();
  if (calibration.rows() < 1) throw Error("analog mapping: the calibration batch is empty");
  if (calibration.cols() != net_.input_shape().size())
    throw Error("analog mapping: calibration inputs have " + std::to_string(calibration.cols()) +
                " features, the network expects " + std::to_string(net_.input_shape().size()));
  const std::vector<std::size_t> matmul = matmul_nodes(net_);
  analog_ = analog_layer_indices(net_, cfg_.mapping);
  std::vector<int> ordinals;
  for (std::size_t i : analog_) ordinals.push_back(int(std::find(matmul.begin(), matmul.end(), i) - matmul.begin()));
  for (const auto& ov : cfg_.overrides)
    if (ov.ordinal < 0 || ov.ordinal >= int(matmul.size()))
      throw Error("layer override " + std::to_string(ov.ordinal) + ": the network has " + std::to_string(matmul.size()) +
                  " Dense/Conv2d layers (ordinals 0.." + std::to_string(int(matmul.size()) - 1) + ")");

  // Design of analog layer `next` from its clean input x on the calibration batch.
  layers_.resize(analog_.size());
  Matrix scratch;
  auto design = [&](std::size_t next, const Matrix& x) {
    {
      const std::size_t i = analog_[next];
      const auto& ml = as_matmul(net_, i);
      auto L = std::make_unique<Layer>();
      L->index = i;
      L->cfg = cfg_.for_layer(ordinals[next]);
      const AnalogConfig& lc = L->cfg;
      const Matrix& W = ml.weight();
      L->K = int(W.rows());
      L->N = int(W.cols());
      L->row0 = blocks(L->K, lc.mapping.tile_rows);
      L->col0 = blocks(L->N, lc.mapping.tile_cols);
      L->w_max = W.cwiseAbs().maxCoeff();
      if (!(L->w_max > 0)) L->w_max = 1.f;
      if (lc.mapping.weight_slices > 1) {
        const int S = lc.mapping.weight_slices, b = lc.mapping.slice_bits;
        if (S * b > 24)
          throw Error("parameter 'mapping.weight_slices' * 'mapping.slice_bits' = " + std::to_string(S * b) +
                      ": at most 24 bits of weight precision");
        const double full = std::ldexp(1.0, S * b) - 1.0, digit_max = std::ldexp(1.0, b) - 1.0;
        for (int k = 0; k < S; ++k) {
          L->slices.emplace_back(W.rows(), W.cols());
          L->slice_gain.push_back(float(digit_max * std::ldexp(1.0, k * b) / full));
        }
        for (Eigen::Index i = 0; i < W.rows(); ++i)
          for (Eigen::Index j = 0; j < W.cols(); ++j) {
            const double w = W(i, j);
            const auto code = static_cast<std::uint32_t>(std::lround(std::min(1.0, std::abs(w) / L->w_max) * full));
            const double sign = w < 0 ? -1.0 : 1.0;
            for (int k = 0; k < S; ++k) {
              const std::uint32_t d = (code >> (k * b)) & ((1u << b) - 1u);
              L->slices[std::size_t(k)](i, j) = float(sign * double(d) / digit_max * L->w_max);
            }
          }
      }
      const Matrix& X = ml.lower(x, scratch);
      const bool signed_in = (X.array() < 0).any();
      double xmax;
      if (lc.mapping.input_range == "model") {
        const std::string& name = net_.name(L->index);
        const auto it = std::find_if(cfg_.input_ranges.begin(), cfg_.input_ranges.end(),
                                     [&](const auto& r) { return r.first == name; });
        if (it == cfg_.input_ranges.end())
          throw Error("parameter 'mapping.input_range' = \"model\": the model file records no input range for layer '" +
                      name + "' (train it with aimc train and [hwa] io = \"quantized\")");
        xmax = it->second;
      } else if (lc.mapping.input_percentile >= 100.0) {
        xmax = X.cwiseAbs().maxCoeff();
      } else {
        std::vector<double> a(X.data(), X.data() + X.size());
        for (auto& v : a) v = std::abs(v);
        xmax = stats::percentile(std::move(a), lc.mapping.input_percentile);
      }
      if (!(xmax > 0)) xmax = 1.0;
      L->dac = std::make_unique<Dac>(lc.dac, xmax, signed_in);
      L->model = make_array_model(lc, xmax);
      // Converter calibration on the ideal partial sums of every tile, all phases stacked.
      if (lc.mapping.readout != "ideal") {
        const auto phases = L->dac->phases(X);
        for (int k = 0; k < L->S(); ++k) {
          const Matrix& Wk = L->slices.empty() ? W : L->slices[std::size_t(k)];
          for (int r = 0; r < L->rb(); ++r)
            for (int c = 0; c < L->cb(); ++c) {
              const int rk = L->row0[r + 1] - L->row0[r], ck = L->col0[c + 1] - L->col0[c];
              Matrix ycal(Eigen::Index(X.rows() * phases.size()), ck);
              for (std::size_t p = 0; p < phases.size(); ++p)
                ycal.middleRows(Eigen::Index(p * X.rows()), X.rows()).noalias() =
                    phases[p].x.middleCols(L->row0[r], rk) * Wk.block(L->row0[r], L->col0[c], rk, ck);
              if (lc.mapping.readout == "adc") {
                L->adcs.push_back(Adc::calibrated(lc.adc, ycal));
              } else {
                Stream unused(0, "unused");
                SenseAmpParams sp = lc.sense_amp;
                sp.sigma_sa = 0;
                SenseAmp sa(sp, ck, unused);
                sa.calibrate(ycal);
                L->sa_scale.push_back(sa.scale());
              }
            }
        }
      }
      layers_[next] = std::move(L);
    }
  };
  // Clean activations of the calibration batch through the ordinary forward: each analog layer is
  // designed when the node it reads has produced its output (a hook), so nothing is stored.
  std::vector<std::vector<std::size_t>> readers(net_.size() + 1);  // by producer node + 1 (0: the input)
  for (std::size_t k = 0; k < analog_.size(); ++k) readers[std::size_t(net_.inputs(analog_[k])[0] + 1)].push_back(k);
  for (std::size_t k : readers[0]) design(k, calibration);
  std::size_t last = 0;
  for (std::size_t j = 0; j < net_.size(); ++j)
    if (!readers[j + 1].empty()) {
      net_.add_hook(j, [&, j](std::size_t, Matrix& y) {
        for (std::size_t k : readers[j + 1]) design(k, y);
      });
      last = j + 1;
    }
  if (last > 0) net_.forward_range(calibration, 0, last, Mode::eval);
  net_.clear_hooks();
  // Layers that no analog node precedes get an input cache (InputCache).
  std::vector<char> after_analog(net_.size(), 0);  // node reads, directly or not, an analog node
  for (std::size_t j = 0, k = 0; j < net_.size(); ++j) {
    for (int i : net_.inputs(j))
      if (i >= 0 && after_analog[std::size_t(i)]) after_analog[j] = 1;
    if (k < analog_.size() && analog_[k] == j) {
      if (!after_analog[j]) layers_[k]->cache = std::make_unique<InputCache>();
      after_analog[j] = 1;
      ++k;
    }
  }
  prefix_end_ = analog_.empty() ? net_.size() : analog_.front();
  while (prefix_end_ > 0 && !net_.is_cut(prefix_end_)) --prefix_end_;
  // Layers that compute with one shared weight tensor (BasisN: every basis_product node reads the one
  // basis) read one physical array per chip: their tiles are programmed from the first such layer's
  // streams, so every device-to-device draw is the same, while each layer keeps its own converters
  // (calibrated on its own inputs) and its own read noise.
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    Layer& L = *layers_[l];
    L.array_key = l;
    for (std::size_t l0 = 0; l0 < l; ++l0) {
      const Layer& L0 = *layers_[l0];
      if (&as_matmul(net_, L0.index).weight() == &as_matmul(net_, L.index).weight() && L0.K == L.K && L0.N == L.N &&
          L0.row0 == L.row0 && L0.col0 == L.col0 && L0.S() == L.S() && L0.cfg.mapping.substrate == L.cfg.mapping.substrate &&
          L0.cfg.mapping.readout == L.cfg.mapping.readout) {
        L.array_key = L0.array_key;
        break;
      }
    }
  }
}

std::unique_ptr<devices::ArrayModel> make_array_model(const AnalogConfig& lc, double x_max) {
  const auto& s = lc.mapping.substrate;
  if (s == "rram") {
    RramParams r = lc.rram;
    r.rows = lc.mapping.tile_rows;
    r.cols = lc.mapping.tile_cols;
    return std::make_unique<RramArrayModel>(r);
  }
  if (s == "pcm") return std::make_unique<PcmArrayModel>(pcm_for(lc.pcm, lc));
  if (s == "sram_qs") return std::make_unique<SramQsArrayModel>(sram_for(lc.sram_qs, lc), x_max);
  if (s == "sram_is") return std::make_unique<SramIsArrayModel>(sram_for(lc.sram_is, lc), x_max);
  if (s == "sram_qr") return std::make_unique<SramQrArrayModel>(sram_for(lc.sram_qr, lc), x_max);
  if (s == "mosfet") {
    MosfetParams m = lc.mosfet;
    m.x_max = x_max;
    return std::make_unique<MosfetArrayModel>(m);
  }
  throw Error("parameter 'mapping.substrate' = \"" + s + "\": unknown substrate");
}

std::size_t AnalogNetwork::cached_chunks() const {
  std::size_t n = 0;
  for (const auto& L : layers_)
    if (L->cache) n += L->cache->size();
  return n;
}

AnalogNetwork::~AnalogNetwork() = default;
AnalogNetwork::AnalogNetwork(AnalogNetwork&&) noexcept = default;

Matrix AnalogNetwork::prefix(const Matrix& x) const {
  Network n = net_.share();
  return n.forward_range(x, 0, first_analog(), Mode::eval);
}

std::pair<int, int> AnalogNetwork::tile_grid(std::size_t l) const { return {layers_.at(l)->rb(), layers_.at(l)->cb()}; }
double AnalogNetwork::x_max(std::size_t l) const { return layers_.at(l)->dac->x_max(); }
double AnalogNetwork::w_max(std::size_t l) const { return layers_.at(l)->w_max; }

std::unique_ptr<AnalogInstance> AnalogNetwork::program(const Stream& prog) const {
  std::unique_ptr<AnalogInstance> inst(new AnalogInstance(*this));
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    auto st = std::make_shared<AnalogInstance::Tiles>(*layers_[l], l, inst->ctx_);
    dynamic_cast<MatmulLayer&>(inst->net_.layer(layers_[l]->index)).set_product(st);
    inst->products_.push_back(std::move(st));
  }
  program(*inst, prog);
  return inst;
}

void AnalogNetwork::program(AnalogInstance& inst, const Stream& prog) const {
  if (&inst.owner_ != this) throw Error("AnalogNetwork::program: the instance was programmed by another network");
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = *layers_[l];
    const Matrix& W = as_matmul(net_, L.index).weight();
    AnalogInstance::Tiles& st = *inst.products_[l];
    const bool fresh = st.tiles.empty();
    st.sas.clear();
    std::size_t t = 0;
    for (int k = 0; k < L.S(); ++k) {
      const Matrix& Wk = L.slices.empty() ? W : L.slices[std::size_t(k)];
      for (int r = 0; r < L.rb(); ++r)
        for (int c = 0; c < L.cb(); ++c, ++t) {
          const int rk = L.row0[r + 1] - L.row0[r], ck = L.col0[c + 1] - L.col0[c];
          Stream ps = prog.child("tile", {L.array_key, std::uint64_t(r), std::uint64_t(c)});
          if (!L.slices.empty()) ps = ps.child("slice", {std::uint64_t(k)});
          const auto block = Wk.block(L.row0[r], L.col0[c], rk, ck);
          if (fresh) st.tiles.push_back(L.model->program(block, L.w_max, ps));
          else st.tiles[t] = L.model->reprogram(std::move(st.tiles[t]), block, L.w_max, ps);
          if (L.cfg.mapping.readout == "sense_amp") {
            Stream ss = prog.child("sense_amp", {L.array_key, std::uint64_t(r), std::uint64_t(c)});
            if (!L.slices.empty()) ss = ss.child("slice", {std::uint64_t(k)});
            SenseAmp sa(L.cfg.sense_amp, ck, ss);
            sa.set_scale(L.sa_scale[std::size_t((k * L.rb() + r) * L.cb() + c)]);
            st.sas.push_back(std::move(sa));
          }
        }
    }
    st.compensate();
  }
}

AnalogInstance::AnalogInstance(const AnalogNetwork& owner) : owner_(owner), net_(owner.net_.share()) {}
AnalogInstance::~AnalogInstance() = default;

const std::vector<std::unique_ptr<ProgrammedArray>>& AnalogInstance::tiles(std::size_t l) const {
  return products_.at(l)->tiles;
}

const std::vector<float>& AnalogInstance::compensation(std::size_t l) const { return products_.at(l)->alpha; }

void AnalogInstance::set_slab_rows(int rows) {
  if (rows < 1) throw Error("analog slab rows must be >= 1");
  ctx_.slab_rows = rows;
}

Matrix AnalogInstance::forward(const Matrix& x_prefix, const Stream& read, std::uint64_t chunk, AnalogStats* stats,
                               bool snr) {
  const std::size_t n = owner_.layers_.size();
  if (stats && stats->signal.size() < n) {
    stats->signal.resize(n, 0.0);
    stats->noise.resize(n, 0.0);
  }
  ctx_.read = &read;
  ctx_.chunk = chunk;
  ctx_.stats = stats;
  ctx_.snr = snr;
  return net_.forward_range(x_prefix, owner_.first_analog(), net_.size(), Mode::eval);
}

void AnalogInstance::Tiles::forward(MatmulLayer& ml, const Matrix& x_in, Matrix& y, Mode) {
  const Matrix* x = &x_in;
  const auto& L = L_;
  const std::size_t next = l_;
  const Stream& read = *ctx_.read;
  const std::uint64_t chunk = ctx_.chunk;
  AnalogStats* stats = ctx_.stats;
  const bool snr = ctx_.snr;
  const auto& mapping = L.cfg.mapping;
  const Eigen::Index B = x->rows(), P = ml.positions(), N = L.N;
  // One parallel phase (dac.hpp: X_1 = X_q, a_1 = 1): the DAC quantizes each layer input once, before
  // lower() (im2col only copies values and pads zeros, which quantize to 0, so lower(Q(x)) == Q(lower(x))
  // exactly, with ~kernel^2 fewer conversions for a convolution). Otherwise the phases of lower(x).
  // DAC saturations are counted per input value.
  const bool single = !L.dac->params().bit_serial && L.dac->phase_count() == 1;
  const Eigen::Index slab = std::max<Eigen::Index>(1, ctx_.slab_rows / P);
  // The input cache (InputCache): an entry recorded from this very input, or a new one to record.
  std::shared_ptr<const InputCache::Entry> hit;
  std::shared_ptr<InputCache::Entry> rec;
  if (L.cache) {
    hit = L.cache->find(chunk, *x);
    if (!hit && L.cache->wanted(chunk)) {
      rec = std::make_shared<InputCache::Entry>();
      rec->x = *x;
    }
  }
  const Matrix* xq = &xq_;
  std::uint64_t dac_sat = 0;
  if (single && hit && hit->has_xq) {
    xq = &hit->xq;
    dac_sat = hit->dac_saturated;
  } else {
    dac_sat = L.dac->quantize(*x, xq_);
    if (rec && single) {
      rec->has_xq = true;
      rec->xq = xq_;
      rec->dac_saturated = dac_sat;
    }
  }
  if (stats) stats->dac_saturated += dac_sat;
  const bool ref_cached = hit && hit->slab == slab;
  if (rec && stats && snr) rec->slab = slab;
  const std::size_t n_phases = single ? 1 : std::size_t(L.dac->phase_count());
  // Streams of every (phase, slice, tile), kept across the slabs so that each continues its sequence.
  const std::size_t n_tiles = std::size_t(L.S() * L.rb() * L.cb());
  std::vector<Stream> tile_rs, readout_rs;
  tile_rs.reserve(n_phases * n_tiles);
  readout_rs.reserve(n_phases * n_tiles);
  for (std::size_t p = 0; p < n_phases; ++p)
    for (int k = 0; k < L.S(); ++k)
      for (int r = 0; r < L.rb(); ++r)
        for (int c = 0; c < L.cb(); ++c) {
          Stream rs = read.child("read", {chunk, next, p, std::uint64_t(r), std::uint64_t(c)});
          if (!L.slices.empty()) rs = rs.child("slice", {std::uint64_t(k)});
          readout_rs.push_back(rs.child("readout"));
          tile_rs.push_back(std::move(rs));
        }
  // The layer output, written in place: raise() keeps the memory layout of the products (layer.hpp).
  y.resize(B, P * N);
  Eigen::Map<Matrix> Y(y.data(), B * P, N);
  AdcCounts counts;
  for (Eigen::Index b0 = 0; b0 < B; b0 += slab) {
    const Eigen::Index nb = std::min(slab, B - b0);
    auto Ys = Y.middleRows(b0 * P, nb * P);
    std::vector<DacPhase> phases;
    std::optional<Eigen::Ref<const Matrix>> Xsingle;
    if (single) Xsingle.emplace(ml.lower_samples(*xq, b0, nb, scratch_));
    else phases = L.dac->phases(ml.lower_samples(*x, b0, nb, scratch_));
    for (std::size_t p = 0; p < n_phases; ++p) {
      const Eigen::Ref<const Matrix>& Xp = single ? *Xsingle : Eigen::Ref<const Matrix>(phases[p].x);
      const float a = single ? 1.f : float(phases[p].weight);
      for (int k = 0; k < L.S(); ++k)
        for (int r = 0; r < L.rb(); ++r) {
          const int rk = L.row0[r + 1] - L.row0[r];
          const float ak = L.slices.empty() ? a : a * L.slice_gain[std::size_t(k)];
          const bool first = p == 0 && k == 0 && r == 0;
          for (int c = 0; c < L.cb(); ++c) {
            const std::size_t t = std::size_t((k * L.rb() + r) * L.cb() + c);
            const std::size_t s = p * n_tiles + t;
            const int ck = L.col0[c + 1] - L.col0[c];
            tiles[t]->mvm(Xp.middleCols(L.row0[r], rk), part_, tile_rs[s]);
            if (mapping.readout == "adc") L.adcs[t].convert(part_, readout_rs[s], stats ? &counts : nullptr);
            else if (mapping.readout == "sense_amp") sas[t].convert(part_, readout_rs[s]);
            auto Yc = Ys.middleCols(L.col0[c], ck);
            if (first) {
              if (ak == 1.f) Yc = part_;
              else Yc = ak * part_;
            } else {
              if (ak == 1.f) Yc += part_;
              else Yc += ak * part_;
            }
          }
        }
    }
    if (alpha.size() == 1) {
      Ys *= alpha[0];
    } else if (!alpha.empty()) {
      Ys.array().rowwise() *= Eigen::Map<const Eigen::RowVectorXf>(alpha.data(), N).array();
    }
    if (stats && snr) {
      const std::size_t si = std::size_t(b0 / slab);
      if (ref_cached) {
        const Matrix& ref = hit->ref[si];
        stats->signal[next] += hit->energy[si];
        stats->noise[next] += double((Ys - ref).squaredNorm());
      } else {
        const Matrix ref = ml.lower_samples(*x, b0, nb, scratch_ref_) * ml.weight();
        const double energy = double(ref.squaredNorm());
        stats->signal[next] += energy;
        stats->noise[next] += double((Ys - ref).squaredNorm());
        if (rec) {
          rec->ref.push_back(ref);
          rec->energy.push_back(energy);
        }
      }
    }
    Ys.rowwise() += ml.bias().row(0);
  }
  if (stats) {
    stats->adc_saturated += counts.total_saturated();
    stats->adc_conversions += counts.conversions;
  }
  if (rec) L.cache->insert(chunk, std::move(rec));
}

AnalogStats AnalogInstance::evaluate(const Matrix& x_prefix, const VectorI& labels, const Stream& read, int chunk_size,
                                     long long snr_samples) {
  if (chunk_size < 1) throw Error("evaluation chunk size must be >= 1");
  const Eigen::Index n = labels.size();
  if (n == 0 ? x_prefix.rows() != 0 : (x_prefix.rows() == 0 || x_prefix.rows() % n != 0))
    throw Error("evaluate: " + std::to_string(x_prefix.rows()) + " input rows are not a whole number of rows for each of " +
                std::to_string(n) + " labels");
  const Eigen::Index per = n == 0 ? 1 : x_prefix.rows() / n;  // rows per sample (time steps of a spiking network)
  AnalogStats s;
  for (Eigen::Index b = 0, k = 0; b < n; b += chunk_size, ++k) {
    const Eigen::Index m = std::min<Eigen::Index>(chunk_size, n - b);
    const bool snr = b < snr_samples;
    Matrix xb = x_prefix.middleRows(b * per, m * per);
    Matrix logits = forward(xb, read, std::uint64_t(k), &s, snr);
    if (snr) s.snr_samples += m;
    VectorI lb = labels.segment(b, m);
    s.loss_sum += softmax_cross_entropy(logits, lb) * double(m);
    s.correct += count_correct(logits, lb);
    s.total += m;
  }
  return s;
}

}  // namespace aimc::nets
