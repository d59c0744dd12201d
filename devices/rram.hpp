#pragma once
/// RRAM crossbar tile: signed weights on a differential conductance pair (G+, G-), with finite
/// programmable levels, programming variation, stuck-at faults, power-law drift and a first-order
/// IR-drop model realized once per programming, and Gaussian read noise drawn per read.
///
/// Mapping (weights -> conductances -> weights). With s = g_max - g_min and |w| clipped to w_max,
///   G+_target = g_min + s * max(w, 0) / w_max,   G-_target = g_min + s * max(-w, 0) / w_max,
/// and the column output in weight units is y = x * (G+ - G-) * (w_max / s), so that with every
/// non-ideality off y == x * W (the common g_min cancels in the difference).
///
/// Order of the realization in RramArrayModel::program (each mechanism draws from its own child
/// stream of the programming stream, so switching one mechanism on or off leaves the draws of the
/// others unchanged and a sweep of one parameter keeps the others' randomness fixed):
///   1. target conductance, quantized to `levels` equally spaced levels on [g_min, g_max];
///   2. programming variation ("additive" / "relative" / "lognormal"), clipped at G >= 0;
///   3. stuck-at faults: G = g_min with probability p_stuck_min, G = g_max with p_stuck_max;
///   4. drift G(t_read) = G(t0) * (t_read / t0)^(-nu_ij), nu_ij ~ N(drift_nu, sigma_drift_nu^2);
///   5. first-order IR drop (input-independent effective conductance, see ir_drop_first_order).
/// Read noise is added per read as Gaussian conductance noise, independent per device and per read,
/// in its exact output-referred form (see RramProgrammedArray::mvm).
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/params.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"
#include "devices/analog_array.hpp"

namespace aimc::devices {

/// Parameters of an RRAM crossbar tile. Conductances in siemens, times in seconds, resistance in ohms.
/// Noise, fault, drift and IR-drop mechanisms are off by default (as in CrossSim, whose device error
/// models default to disabled); the conductance range is the DNN+NeuroSim V1.3 RRAM default.
struct RramParams {
  int rows = 128;                      ///< physical tile rows (inputs)
  int cols = 128;                      ///< physical tile columns (outputs); each uses a G+/G- pair
  double g_min_S = 1.0 / 900e3;        ///< minimum conductance, 1/R_off
  double g_max_S = 1.0 / 6e3;          ///< maximum conductance, 1/R_on
  int levels = 0;                      ///< programmable levels per device; 0 = continuous
  std::string prog_model = "additive";  ///< programming variation: additive | relative | lognormal
  double sigma_prog = 0.0;             ///< programming spread (meaning depends on prog_model)
  std::string read_model = "additive";  ///< read noise: additive (sigma * g_max) | relative (sigma * G)
  double sigma_read = 0.0;             ///< per-read conductance noise spread
  double p_stuck_min = 0.0;            ///< probability a device is stuck at g_min
  double p_stuck_max = 0.0;            ///< probability a device is stuck at g_max
  double drift_nu = 0.0;               ///< mean power-law drift exponent
  double sigma_drift_nu = 0.0;         ///< device-to-device spread of the drift exponent
  double t0_s = 1.0;                   ///< time after programming at which G is the programmed value
  double t_read_s = 1.0;               ///< time after programming at which the tile is read
  double r_wire_Ohm = 0.0;             ///< wire resistance of one cell-to-cell segment (rows and columns)

  static std::span<const Param<RramParams>> params();
  /// Cross-parameter rules: g_min < g_max, levels != 1, p_stuck_min + p_stuck_max <= 1, t_read >= t0.
  void check() const;
};

/// First-order IR drop of one crossbar (rows x cols conductances g in S, wire resistance r per segment
/// in ohm). Geometry: each row is driven at its column-0 end by an ideal voltage source; each column
/// is sensed at its row-(R-1) end by a virtual ground; every cell-to-cell wire segment (and the segment
/// from the driver to column 0 and from row R-1 to the sense amplifier) has resistance r.
/// Expanding the nodal equations to first order in r (cell currents inside the drop terms are the
/// ideal currents V_i G_ij) gives column currents I_j = sum_m V_m Geff_mj with
///   Geff_mj = G_mj - r G_mj A_mj - r G_mj S_mj,
///   A_mj = sum_c G_mc (min(j, c) + 1)          (word-line drop seen by cell (m, j)),
///   S_mj = sum_i G_ij (R - max(i, m))          (bit-line rise coupled from row m into column j),
/// i.e. the first-order IR drop is linear in the inputs and folds into an input-independent effective
/// conductance matrix (derived here; accurate while r * g_max * max(R, C)^2 << 1; the exact nodal
/// solution is ir_drop_exact_currents). Cost O(rows * cols) with prefix sums.
MatrixD ir_drop_first_order(const MatrixD& g, double r_wire_Ohm);

/// Exact nodal solution of the same crossbar network (Kirchhoff's current law at every row and column
/// node, sparse LU) for one input voltage vector v (rows): returns the column currents (cols) in A.
/// Reference oracle for ir_drop_first_order; cost grows like a 2-D grid solve, meant for tiles up to
/// about 128 x 128.
VectorD ir_drop_exact_currents(const MatrixD& g, const VectorD& v, double r_wire_Ohm);

/// Device fault state stored per device of a programmed tile.
enum class Fault : std::uint8_t { none = 0, stuck_min = 1, stuck_max = 2 };
using FaultMap = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A programmed RRAM tile: the realized conductances and the precomputed effective weight matrix and
/// per-element read-noise variances in weight units.
class RramProgrammedArray final : public ProgrammedArray {
 public:
  int rows() const override { return static_cast<int>(w_eff_.rows()); }
  int cols() const override { return static_cast<int>(w_eff_.cols()); }

  /// Fast path. Without read noise: one GEMM, y = x * W_eff. With read noise (independent zero-mean
  /// Gaussian conductance noise per device per read, variance V_ij in weight units^2 for the pair):
  ///   y = x * W_eff + sqrt((x .* x) * V) .* z,   z ~ N(0, 1) i.i.d. per output and batch row,
  /// one extra GEMM with the squared inputs. This is equal in distribution to mvm_sampled: for a
  /// fixed input vector x, y_j = sum_i x_i (W_ij + e_ij) with independent e_ij ~ N(0, V_ij) is
  /// Gaussian with mean (x W)_j and variance sum_i x_i^2 V_ij, the outputs j are independent (they
  /// share no e_ij), and rows of the batch are independent (fresh e per read). x and y must not alias.
  void mvm(const Eigen::Ref<const Matrix>& x, Matrix& y, Stream& read) const override;

  /// Reference for mvm: draws a full noisy matrix W_eff + sqrt(V) .* E (E ~ N(0,1) per element) for
  /// every input vector and multiplies. O(batch * rows * cols) random numbers; test oracle only.
  void mvm_sampled(const Eigen::Ref<const Matrix>& x, Matrix& y, Stream& read) const;

  Matrix effective_weights() const override { return w_eff_; }
  /// Per-element read-noise variance of the effective weights (weight units^2), (rows, cols).
  Matrix read_variance() const {
    return uniform_var_ ? Matrix::Constant(w_eff_.rows(), w_eff_.cols(), var0_) : var_;
  }
  /// Realized conductances after variation, faults and drift (before the IR-drop folding), in S.
  const Matrix& g_plus() const { return g_plus_; }
  const Matrix& g_minus() const { return g_minus_; }
  const FaultMap& faults_plus() const { return f_plus_; }
  const FaultMap& faults_minus() const { return f_minus_; }
  /// Weight units per siemens of conductance difference: w_max / (g_max - g_min).
  double weight_per_siemens() const { return scale_; }
  bool has_read_noise() const { return has_read_noise_; }

 private:
  friend class RramArrayModel;
  Matrix w_eff_, var_, g_plus_, g_minus_;  // var_ only when !uniform_var_
  FaultMap f_plus_, f_minus_;
  double scale_ = 1.0;
  bool has_read_noise_ = false;
  bool uniform_var_ = false;  ///< every V_ij equals var0_ (additive read noise): skip the second GEMM
  float var0_ = 0.f;
};

/// ArrayModel for RRAM tiles. The constructor validates the parameters (aimc::Error naming the
/// parameter, value and allowed range).
class RramArrayModel final : public ArrayModel {
 public:
  using Params = RramParams;
  explicit RramArrayModel(const RramParams& p);
  std::string name() const override { return "rram"; }
  const RramParams& params() const { return p_; }

  /// Realizes one programmed tile from w (at most rows x cols) with |w| <= w_max mapped onto
  /// [g_min, g_max] (larger |w| saturate). Draws all device-to-device randomness from `prog`.
  std::unique_ptr<ProgrammedArray> program(const Eigen::Ref<const Matrix>& w, float w_max,
                                           Stream& prog) const override;
  /// Same, returning the concrete type (access to conductances, faults, mvm_sampled).
  std::unique_ptr<RramProgrammedArray> program_rram(const Eigen::Ref<const Matrix>& w, float w_max,
                                                    Stream& prog) const;
  /// program() into `old` when it is an RRAM tile (its matrices keep their memory), else a new tile.
  std::unique_ptr<ProgrammedArray> reprogram(std::unique_ptr<ProgrammedArray> old, const Eigen::Ref<const Matrix>& w,
                                             float w_max, Stream& prog) const override;

  /// Contract-suite hooks (tests/devices/test_array_contract.cpp).
  static RramParams contract_ideal();
  static RramParams contract_noisy();
  static std::vector<std::pair<RramParams, std::string>> contract_invalid();

 private:
  /// Draws tile `a` anew from w: every member of `a` is set (program_rram on a fresh tile).
  void program_into(RramProgrammedArray& a, const Eigen::Ref<const Matrix>& w, float w_max, Stream& prog) const;
  RramParams p_;
};

}  // namespace aimc::devices
