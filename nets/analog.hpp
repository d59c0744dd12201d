#pragma once
/// Analog execution of a network: every selected Dense/Conv2d layer runs its matrix product on tiles
/// of an analog array (RRAM, PCM, SRAM QS/IS/QR, MOSFET synapse) behind a DAC and an ADC or a 1-bit
/// sense amplifier; everything else stays digital.
///
/// Per analog layer (crossbar view W: K inputs x N outputs, MatmulLayer in layer.hpp):
///   1. lower():  x -> X (B * positions, K)                 (im2col for Conv2d, nothing for Dense)
///   2. DAC:      X -> phases X_p with weights a_p (devices/dac.hpp); full scale x_max of the layer
///   3. tiles:    W is cut into ceil(K / tile_rows) x ceil(N / tile_cols) blocks W_rc; tile (r, c) is
///                W_rc programmed on its own array; it computes P_rcp = readout(array(X_p[:, rows r]))
///   4. digital:  Y[:, cols c] = sum_p a_p sum_r P_rcp         (partial sums accumulated across tiles)
///                Y[:, j] *= alpha_j                            (drift compensation, when on; see below)
///   5. raise():  y = Y + bias (reshaped back for Conv2d)
/// Steps 1-5 run on slabs of whole samples, about kSlabRows crossbar input rows at a time (one image
/// of a 28 x 28 convolution, the whole chunk of a Dense layer), so that the lowered inputs, each
/// tile's outputs and their sum stay in cache. The slab size does not change the random draws (see
/// below); a product may differ in its last float bit, as Eigen picks its kernel by the row count.
///
/// Weight bit-slicing (mapping.weight_slices S > 1, slice_bits b; as in ISAAC, Shafiee et al., ISCA
/// 2016, Sec. 4): |w| is quantized to B = S b bits, code = round(|w| / w_max (2^B - 1)), and slice s
/// holds the digit d_s = (code >> s b) mod 2^b at full device range, W_s = sign(w) d_s / (2^b - 1)
/// w_max. Each slice has its own tiles and converters; digitally Y = sum_s g_s Y_s with
/// g_s = (2^b - 1) 2^(s b) / (2^B - 1), so that with ideal devices sum_s g_s W_s is W quantized to B
/// bits. Slice s of tile (l, r, c) draws from prog.child("tile", {l, r, c}).child("slice", {s}).
///
/// Drift compensation (mapping.drift_compensation; after Joshi et al., Nat. Commun. 2020, and aihwkit's
/// GlobalDriftCompensation / PerColumnDriftCompensation): right after programming an instance, each
/// analog layer is probed with the identity batch (each input line alone at unit input) read without
/// noise and without converters, through the layer's digital sum: the readout of the probe is the
/// layer's combined weight matrix sum_s g_s W_s (K x N, over all tiles and weight slices), so its
/// mean |y| is mean |W|. The probe is read at the reference (ProgrammedArray::reference_weights(),
/// right after programming) and at the time of inference (effective_weights()), and
///   global:  alpha = sum_ij |W_ref| / sum_ij |W_t|     (one factor per layer)
///   column:  alpha_j = sum_i |W_ref,ij| / sum_i |W_t,ij|   (one factor per output column)
/// (alpha = 1 where the denominator or numerator is 0) multiplies Y in digital before the bias, so
/// the compensated probe has the mean |y| of the reference. "none" leaves Y as is. aihwkit's probe is
/// the same identity batch, but read through the tile's full forward (its DAC, ADC and output noise)
/// unless GlobalDriftCompensationWithExactReference is used; ours is the noise-free read, and one
/// factor per layer rather than per tile. Substrates without a drift reference (all but PCM) have
/// W_ref = W_t, so alpha = 1.
///
/// Scaling (explicit): every array works in weight units (devices/analog_array.hpp). A layer's weights
/// are mapped with w_max = max |W| of the layer, so the largest weight uses the full device range
/// (for RRAM: G_max - G_min on one side of the differential pair); the array's own rescaling
/// (conductance -> weight units, documented per device) returns outputs in the units of X * W.
/// The DAC full scale x_max is the `input_percentile` percentile of |X| over the calibration batch
/// (100 = max); inputs are signed iff any calibration input is negative.
/// ADC ranges are calibrated once per tile and per design (not per device instance, as a chip's
/// ADC references are set at design/test time) on the ideal partial sums X_p W_rc of the calibration
/// batch, all phases together; the sense amplifier's per-column scale likewise.
///
/// Execution: an instance is the network itself (the same nodes, hooks and Network::forward) with the
/// product of every analog layer replaced by steps 1-5 below (a Product, nets/layer.hpp); digital
/// nodes run their ordinary forward. Nothing is a second copy of the network's logic.
///
/// Randomness: `AnalogNetwork::program(prog)` draws all device-to-device state (tile (l, r, c) from
/// prog.child("tile", {l, r, c}), its sense amplifiers from prog.child("sense_amp", {l, r, c}));
/// `AnalogInstance::forward` draws per-read noise for chunk k, phase p, tile (l, r, c) from
/// read.child("read", {k, l, p, r, c}) and the read-out's (ADC noise, sense-amp noise) from that
/// stream's child("readout"), each in row-major order of the chunk's rows, so the outputs of a chunk
/// depend only on the streams and the chunk index, never on threads, and every number drawn for a row
/// is the same for any slab size. l is the analog layer's ordinal among the analog layers. Layers whose
/// weight is one shared tensor (BasisN's basis, nets/basisn.hpp) are one physical array: their tiles
/// and sense amplifiers are drawn with the l of the first of them (same devices on every such layer),
/// their converters are calibrated per layer and their reads keyed by their own l.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/params.hpp"
#include "core/random.hpp"
#include "devices/adc.hpp"
#include "devices/analog_array.hpp"
#include "devices/dac.hpp"
#include "devices/mosfet.hpp"
#include "devices/pcm.hpp"
#include "devices/rram.hpp"
#include "devices/sense_amp.hpp"
#include "devices/sram_compute.hpp"
#include "nets/network.hpp"

namespace aimc::nets {

/// How a network is mapped onto analog hardware.
struct MappingParams {
  std::string substrate = "rram";    ///< rram | pcm | sram_qs | sram_is | sram_qr | mosfet
  std::string readout = "adc";       ///< adc | sense_amp | ideal (no conversion: float partial sums)
  std::string analog_layers = "all";  ///< all | inner (first and last matmul layer digital) | list "0,2"
  int tile_rows = 128;               ///< array rows (inputs) per tile
  int tile_cols = 128;               ///< array columns (outputs) per tile
  double input_percentile = 100.0;   ///< DAC full scale: this percentile of |inputs| on calibration
  std::string input_range = "calibration";  ///< calibration | model (AnalogConfig::input_ranges)
  int weight_slices = 1;             ///< devices per weight (bit slices); 1 = the whole weight on one pair
  int slice_bits = 2;                ///< magnitude bits per slice when weight_slices > 1
  std::string drift_compensation = "none";  ///< none | global | column (see the file comment)
  static std::span<const Param<MappingParams>> params();
};

/// Everything that describes the analog hardware of one sweep point.
struct AnalogConfig {
  MappingParams mapping;
  devices::RramParams rram;  ///< rows/cols are taken from mapping.tile_rows/tile_cols
  devices::PcmParams pcm;    ///< rows/cols are taken from mapping.tile_rows/tile_cols
  devices::DacParams dac;
  devices::AdcParams adc;
  devices::SenseAmpParams sense_amp;
  devices::QsModel sram_qs;  ///< n_rows is mapping.tile_rows, b_x is dac.bits
  devices::IsModel sram_is;
  devices::QrModel sram_qr;
  devices::MosfetParams mosfet;  ///< x_max is the layer's DAC full scale

  /// Settings of one layer on top of the ones above (ordinal among the network's Dense/Conv2d
  /// layers, counting digital ones): e.g. another substrate, read-out, tile size or ADC precision.
  struct LayerOverride {
    int ordinal = 0;
    std::vector<std::pair<std::string, double>> numbers;       ///< "section.name" = value
    std::vector<std::pair<std::string, std::string>> strings;  ///< "section.name" = text
  };
  std::vector<LayerOverride> overrides;

  /// DAC full scales by layer (node) name, used with mapping.input_range = "model": the ranges
  /// hardware-aware training recorded in the model file (nets/model_io.hpp, ModelMeta::hwa), set by
  /// the campaign that loads it. A layer without one is an error naming mapping.input_range.
  std::vector<std::pair<std::string, double>> input_ranges;

  /// The configuration layer `ordinal` runs with: this one with that layer's overrides applied (in
  /// the order given). Sweep values set on the base apply to every layer that does not override them.
  AnalogConfig for_layer(int ordinal) const;
  /// Sets a string parameter "section.name" (e.g. "mapping.substrate"); false if there is none.
  bool set_string(std::string_view key, const std::string& value);

  /// Sets a numeric parameter "section.name" (sections: mapping, rram, pcm, dac, adc, sense_amp,
  /// sram_qs, sram_is, sram_qr, mosfet). False if there is no such numeric parameter.
  bool set(std::string_view key, double value);
  /// Names "section.name" of all numeric parameters (for error messages and sweeps).
  static std::vector<std::string> numeric_keys();
  /// Validates every section the mapping uses (errors name "section.name").
  void validate() const;
};

/// Network node indices of the Dense/Conv2d layers that `m.analog_layers` selects (all, inner, or a
/// list of ordinals among the network's Dense/Conv2d layers), increasing: the analog layers of
/// AnalogNetwork and the layers hardware-aware training perturbs. Errors name mapping.analog_layers.
std::vector<std::size_t> analog_layer_indices(const Network& net, const MappingParams& m);

/// Results of evaluating a programmed instance on a batch.
struct AnalogStats {
  long long correct = 0;
  long long total = 0;
  double loss_sum = 0;            ///< sum of per-sample cross-entropy
  std::uint64_t adc_saturated = 0;
  std::uint64_t adc_conversions = 0;
  std::uint64_t dac_saturated = 0;
  std::vector<double> signal;     ///< per analog layer: sum of (X W)^2 over the SNR samples
  std::vector<double> noise;      ///< per analog layer: sum of (Y - X W)^2 over the SNR samples
  long long snr_samples = 0;
  /// Per analog layer output SNR in dB: 10 log10(signal / noise) (+inf when noise is 0).
  std::vector<double> snr_db() const;
  void merge(const AnalogStats& o);
};

class AnalogInstance;

/// The array model of the configured substrate (mapping.substrate with its section; the tile size
/// from mapping.tile_rows/tile_cols) for a layer whose DAC full scale is `x_max` (used by the SRAM and
/// MOSFET models, which apply inputs themselves). `lc` is a layer's configuration (for_layer).
std::unique_ptr<devices::ArrayModel> make_array_model(const AnalogConfig& lc, double x_max);

/// A network with its analog mapping, calibrated; programs instances.
class AnalogNetwork {
 public:
  /// `calibration`: network inputs (B, input size) used for the DAC/ADC/sense-amp calibration
  /// (clean digital activations). Validates cfg and checks the mapping against the network.
  AnalogNetwork(const Network& net, const AnalogConfig& cfg, const Matrix& calibration);
  ~AnalogNetwork();
  AnalogNetwork(AnalogNetwork&&) noexcept;

  const AnalogConfig& config() const { return cfg_; }
  /// Network layer indices of the analog layers, increasing.
  const std::vector<std::size_t>& analog_layers() const { return analog_; }
  /// End of the digital prefix: nodes [0, first_analog()) are digital and computed once per campaign.
  /// It is the first analog node, or for a graph the latest node before it at which a single tensor
  /// carries everything later nodes read (Network::is_cut); 0 if there is none.
  std::size_t first_analog() const { return prefix_end_; }
  /// Clean digital outputs of the prefix nodes [0, first_analog()) for network inputs x.
  Matrix prefix(const Matrix& x) const;
  /// The network (a copy made at construction; instances execute views of it).
  const Network& network() const { return net_; }
  /// Tiles of analog layer l (ordinal) as (row blocks, column blocks).
  std::pair<int, int> tile_grid(std::size_t l) const;
  double x_max(std::size_t l) const;
  double w_max(std::size_t l) const;

  /// Draws one device instance (all device-to-device randomness from `prog`).
  std::unique_ptr<AnalogInstance> program(const Stream& prog) const;
  /// Draws `inst` (an instance of this network) anew from `prog`, in place: equal to program(prog),
  /// without allocating the tiles, converters' buffers and network view again (a trial loop keeps one
  /// instance per thread).
  void program(AnalogInstance& inst, const Stream& prog) const;
  /// Entries of the trial-invariant input caches of all layers (InputCache in analog.cpp: the
  /// quantized input and SNR reference products of layers that no analog node precedes, recorded by
  /// the first evaluation of each chunk and served to later instances; results are bit-identical with
  /// or without them).
  std::size_t cached_chunks() const;

  struct Layer;  // per analog layer design data (analog.cpp)

 private:
  friend class AnalogInstance;
  Network net_;
  AnalogConfig cfg_;
  std::vector<std::size_t> analog_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::size_t prefix_end_ = 0;
};

/// One programmed device instance of an AnalogNetwork: a view of its network (Network::share, no
/// copy of any weight) in which every analog layer's product is this instance's tiles behind their
/// converters (a Product, nets/layer.hpp), run by the ordinary Network::forward. Not thread-safe (the
/// layers keep state); use one instance per thread.
class AnalogInstance {
 public:
  ~AnalogInstance();
  /// Logits for inputs of layer first_analog() (the prefix output), one chunk. `chunk` keys the read
  /// streams; if `stats` is given, ADC counts are added and, when `snr` is set, per-layer signal and
  /// noise energies against the digital product on the same layer inputs.
  Matrix forward(const Matrix& x_prefix, const Stream& read, std::uint64_t chunk, AnalogStats* stats = nullptr,
                 bool snr = false);
  /// Accuracy, loss and counts over a whole set (prefix outputs and labels), in chunks of `chunk_size`
  /// samples; SNR energies over the first `snr_samples` samples (rounded up to whole chunks). A prefix
  /// may hold several rows per sample (a spiking network's time steps, nets/snn.hpp: rows b r .. b r +
  /// r - 1 of sample b); its rows must then be a whole multiple r of the labels, and a chunk is
  /// chunk_size samples, chunk_size r rows.
  AnalogStats evaluate(const Matrix& x_prefix, const VectorI& labels, const Stream& read, int chunk_size = 100,
                       long long snr_samples = 500);
  /// Crossbar input rows per slab (default kSlabRows); the outputs do not depend on it.
  void set_slab_rows(int rows);
  static constexpr int kSlabRows = 512;
  /// The programmed arrays of analog layer l, row-major over the tile grid (slice by slice).
  const std::vector<std::unique_ptr<devices::ProgrammedArray>>& tiles(std::size_t l) const;
  /// The drift-compensation factors of analog layer l: empty (none), one (global) or one per output
  /// column (column).
  const std::vector<float>& compensation(std::size_t l) const;

 private:
  friend class AnalogNetwork;
  explicit AnalogInstance(const AnalogNetwork& owner);
  const AnalogNetwork& owner_;
  Network net_;  // executor over the owner's tensors; analog layers carry this instance's products
  /// What the products of one forward() call share: the read stream, the chunk, where to count.
  struct Context {
    const Stream* read = nullptr;
    std::uint64_t chunk = 0;
    AnalogStats* stats = nullptr;
    bool snr = false;
    int slab_rows = kSlabRows;
  };
  Context ctx_;
  class Tiles;  // the Product of one analog layer (analog.cpp)
  std::vector<std::shared_ptr<Tiles>> products_;  // per analog layer (ordinal)
};

}  // namespace aimc::nets
