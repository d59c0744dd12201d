#pragma once
/// Phase-change memory (PCM) crossbar tile with conductance drift: the statistical PCM model of
/// Nandakumar et al. (IEEE ICECS 2019) calibrated on the 1-million-device array of Joshi et al.
/// (Nat. Commun. 11, 2473, 2020), as documented publicly by IBM aihwkit (`PCMLikeNoiseModel`,
/// docs/source/pcm_inference.rst). Every coefficient below is a parameter (PcmParams::params()).
///
/// Mapping (weights -> conductances -> weights): a differential pair with G_min = 0. With |w|
/// clipped to w_max, the target conductances are
///   G+_T = g_max max(w, 0) / w_max,   G-_T = g_max max(-w, 0) / w_max,
/// and the column output in weight units is y = x (G+ - G-) w_max / g_max, so with every mechanism
/// off y == x W.
///
/// Realization (PcmArrayModel::program, per device of both halves of the pair, g_T the device's target;
/// each mechanism draws its standard normals z from its own child stream of the programming stream,
/// "pcm.prog", "pcm.drift", "pcm.read_1f" with index {half}, in row-major device order, so switching
/// one mechanism off leaves the others' draws unchanged, and the same programming stream at another
/// t_inference_s draws the same devices: the instance is one chip observed at another time):
///   1. programming noise (closed-loop iterative programming, Nandakumar et al. 2019 fit):
///        sigma_prog(g_T) = max(c0 + c1 (g_T / g_max) + c2 (g_T / g_max)^2, 0) g_max / g_ref,
///        g_prog = max(g_T + prog_noise_scale sigma_prog(g_T) z_1, 0);
///      the device of the pair whose target is 0 is programmed too (sigma_prog(0) = c0 g_max / g_ref).
///   2. drift exponent, drawn once per device from its target state ("conductance" model), with
///      r = max(g_T / g_max, nu_g_rel_min):
///        mu_nu = clamp(nu_mu_slope ln r + nu_mu_offset, nu_mu_min, nu_mu_max),
///        sigma_nu = clamp(nu_sigma_slope ln r + nu_sigma_offset, nu_sigma_min, nu_sigma_max),
///        nu = |mu_nu + sigma_nu z_2| drift_scale;
///      or ("constant" model) nu = |drift_nu + sigma_drift_nu z_2| drift_scale for every device.
///   3. drift to the time of inference, t = t_inference + t0 (t_inference counts from the end of
///      programming, t0 is the first read of the drift fit):
///        g_drift = g_prog (t / t0)^(-nu).
///   4. accumulated 1/f (and random telegraph) noise up to t, integrated from S_G / G^2 = Q / f:
///        Q_s = min(q_s_coeff / max((g_prog / g_max)^q_s_exponent, q_s_floor), q_s_max),
///        sigma_nG = Q_s sqrt(ln((t + t_read) / (2 t_read))),
///        g(t) = max(g_drift + |g_drift| read_noise_scale sigma_nG z_3, 0).
/// The effective weights at t are (G+(t) - G-(t)) w_max / g_max. The reference weights (the drift
/// compensation reference, right after programming) are (G+_prog - G-_prog) w_max / g_max:
/// programming noise only, no drift, no accumulated 1/f noise.
/// Optional per-read noise (sigma_read, default off): independent Gaussian conductance noise of
/// sd sigma_read g_max per device and read, applied in its exact output-referred form (as rram.hpp's
/// additive read noise).
///
/// Differences from aihwkit's implementation (deliberate; see devices/README.md): aihwkit re-derives
/// the conductance pair from the programmed net weight before drifting it (the pair collapses to one
/// device at |w_prog|, rescaled so that max |w_prog| maps to g_max) and evaluates Q_s on that
/// re-derived conductance; here each device keeps its own programmed conductance and drifts with its
/// own exponent, as in the hardware.
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/params.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"
#include "devices/analog_array.hpp"

namespace aimc::devices {

/// Parameters of a PCM crossbar tile. Conductances in siemens, times in seconds. Defaults are the
/// documented defaults of aihwkit's PCMLikeNoiseModel (all mechanisms on, t_inference 1 s).
struct PcmParams {
  int rows = 128;                        ///< physical tile rows (inputs)
  int cols = 128;                        ///< physical tile columns (outputs); each a G+/G- pair
  double g_max_S = 25e-6;                ///< conductance of the largest |w| (G_min = 0)
  double prog_noise_scale = 1.0;         ///< scale of the programming noise (0 = off)
  double prog_c0_S = 0.26348e-6;         ///< programming noise polynomial, constant term (at g_ref)
  double prog_c1_S = 1.9650e-6;          ///< linear term
  double prog_c2_S = -1.1731e-6;         ///< quadratic term
  double prog_g_ref_S = 25e-6;           ///< g_max at which c0..c2 were fitted
  std::string drift_nu_model = "conductance";  ///< conductance (state-dependent fit) | constant
  double drift_scale = 1.0;              ///< scale of every drift exponent (0 = no drift)
  double drift_nu = 0.05;                ///< constant model: mean drift exponent
  double sigma_drift_nu = 0.0;           ///< constant model: device-to-device spread of nu
  double nu_mu_slope = -0.0155;          ///< mu_nu = nu_mu_slope ln(g_T / g_max) + nu_mu_offset
  double nu_mu_offset = 0.0244;
  double nu_mu_min = 0.049;              ///< clamp of mu_nu
  double nu_mu_max = 0.1;
  double nu_sigma_slope = -0.0125;       ///< sigma_nu = nu_sigma_slope ln(g_T / g_max) + nu_sigma_offset
  double nu_sigma_offset = -0.0059;
  double nu_sigma_min = 0.008;           ///< clamp of sigma_nu
  double nu_sigma_max = 0.045;
  double nu_g_rel_min = 1e-7;            ///< floor of g_T / g_max inside the logarithms
  double t0_s = 20.0;                    ///< first read after programming (drift reference time)
  double t_inference_s = 1.0;            ///< time after programming at which the tile is read
  double t_read_s = 250e-9;              ///< read pulse width (1/f noise bandwidth)
  double read_noise_scale = 1.0;         ///< scale of the accumulated 1/f noise (0 = off)
  double q_s_coeff = 0.0088;             ///< Q_s = min(q_s_coeff / max(g^q_s_exponent, q_s_floor), q_s_max)
  double q_s_exponent = 0.65;
  double q_s_floor = 1e-3;
  double q_s_max = 0.2;
  double sigma_read = 0.0;               ///< per-read conductance noise, sd relative to g_max

  static std::span<const Param<PcmParams>> params();
  /// Cross-parameter rules: nu_mu_min <= nu_mu_max, nu_sigma_min <= nu_sigma_max, t0_s >= t_read_s
  /// (so that the 1/f integral ln((t + t_read) / (2 t_read)) is not negative).
  void check() const;

  /// Standard deviation of the programmed conductance for target g_T (S), before prog_noise_scale.
  double sigma_prog(double g_t) const;
  /// Mean and spread of the drift exponent for target g_T under the "conductance" model (before
  /// drift_scale and the |.| fold).
  std::pair<double, double> nu_moments(double g_t) const;
  /// Q_s of the accumulated 1/f noise for programmed conductance g_prog (S).
  double q_s(double g_prog) const;
  /// sqrt(ln((t + t_read) / (2 t_read))) at t = t_inference_s + t0_s.
  double noise_time_factor() const;
};

/// A programmed PCM tile: conductances right after programming and at t_inference, and the
/// effective weights of both in weight units.
class PcmProgrammedArray final : public ProgrammedArray {
 public:
  int rows() const override { return static_cast<int>(w_eff_.rows()); }
  int cols() const override { return static_cast<int>(w_eff_.cols()); }
  /// y = x W(t); with sigma_read > 0 plus sqrt(var0 ||x_b||^2) z per output (exact output-referred form
  /// of independent per-device, per-read Gaussian noise of variance 2 (sigma_read w_max)^2 per pair).
  void mvm(const Eigen::Ref<const Matrix>& x, Matrix& y, Stream& read) const override;
  /// Weights at t_inference: programming noise, drift and accumulated 1/f noise.
  Matrix effective_weights() const override { return w_eff_; }
  /// Weights right after programming (programming noise only): the drift-compensation reference.
  Matrix reference_weights() const override { return w_ref_; }
  /// Conductances (S): programmed (t_inference = 0) and at t_inference.
  const Matrix& g_prog_plus() const { return gp_plus_; }
  const Matrix& g_prog_minus() const { return gp_minus_; }
  const Matrix& g_plus() const { return g_plus_; }
  const Matrix& g_minus() const { return g_minus_; }
  /// Weight units per siemens of conductance difference: w_max / g_max.
  double weight_per_siemens() const { return scale_; }
  /// Per-read variance of each effective weight (weight units^2); 0 without read noise.
  double read_variance() const { return var0_; }

 private:
  friend class PcmArrayModel;
  Matrix w_eff_, w_ref_, gp_plus_, gp_minus_, g_plus_, g_minus_;
  double scale_ = 1.0;
  float var0_ = 0.f;
};

/// ArrayModel for PCM tiles. The constructor validates the parameters (aimc::Error naming
/// `pcm.<parameter>`, its value and the allowed range).
class PcmArrayModel final : public ArrayModel {
 public:
  using Params = PcmParams;
  explicit PcmArrayModel(const PcmParams& p);
  std::string name() const override { return "pcm"; }
  const PcmParams& params() const { return p_; }

  /// Realizes one tile from w (at most rows x cols), |w| <= w_max mapped onto [0, g_max] (larger |w|
  /// saturate); all device-to-device randomness (including the 1/f noise accumulated up to
  /// t_inference) from `prog`.
  std::unique_ptr<ProgrammedArray> program(const Eigen::Ref<const Matrix>& w, float w_max,
                                           Stream& prog) const override;
  /// Same, returning the concrete type (conductances).
  std::unique_ptr<PcmProgrammedArray> program_pcm(const Eigen::Ref<const Matrix>& w, float w_max, Stream& prog) const;
  /// program() into `old` when it is a PCM tile (its matrices keep their memory), else a new tile.
  std::unique_ptr<ProgrammedArray> reprogram(std::unique_ptr<ProgrammedArray> old, const Eigen::Ref<const Matrix>& w,
                                             float w_max, Stream& prog) const override;

  /// Contract-suite hooks (tests/devices/test_array_contract.cpp).
  static PcmParams contract_ideal();
  static PcmParams contract_noisy();
  static std::vector<std::pair<PcmParams, std::string>> contract_invalid();

 private:
  void program_into(PcmProgrammedArray& a, const Eigen::Ref<const Matrix>& w, float w_max, Stream& prog) const;
  PcmParams p_;
};

}  // namespace aimc::devices
