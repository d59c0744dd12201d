#include "devices/pcm.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "core/error.hpp"

namespace aimc::devices {

namespace {
constexpr const char* kAihwkitPcm =
    "aihwkit PCMLikeNoiseModel default (Nandakumar et al., IEEE ICECS 2019; Joshi et al., Nat. Commun. 11, 2473, "
    "2020)";
}  // namespace

std::span<const Param<PcmParams>> PcmParams::params() {
  using P = PcmParams;
  static const Param<P> t[] = {
      {"rows", &P::rows, "1", "physical tile rows (inputs per tile)", "set from mapping.tile_rows", between(1, 4096)},
      {"cols", &P::cols, "1", "physical tile columns (outputs per tile, each a G+/G- pair)",
       "set from mapping.tile_cols", between(1, 4096)},
      {"g_max_S", &P::g_max_S, "S",
       "conductance of the largest weight magnitude of a layer (G_min = 0, differential pair)",
       "aihwkit SinglePairConductanceConverter / PCMLikeNoiseModel g_max = 25 uS (Joshi et al. 2020)",
       {0.0, 1.0, true, false}},
      {"prog_noise_scale", &P::prog_noise_scale, "1", "scale of the programming noise sigma_prog(g_T); 0 = off",
       "aihwkit PCMLikeNoiseModel prog_noise_scale = 1", between(0.0, 100.0)},
      {"prog_c0_S", &P::prog_c0_S, "S",
       "programming noise sd, constant term: sigma_prog = max(c0 + c1 g_T/g_max + c2 (g_T/g_max)^2, 0) g_max/g_ref",
       "Nandakumar et al., IEEE ICECS 2019 fit to iterative programming (aihwkit prog_coeff[0] = 0.26348 uS; its "
       "docs print 0.2635)",
       between(-1e-3, 1e-3)},
      {"prog_c1_S", &P::prog_c1_S, "S", "programming noise sd, linear term c1",
       "Nandakumar et al. 2019 (aihwkit prog_coeff[1] = 1.9650 uS)", between(-1e-3, 1e-3)},
      {"prog_c2_S", &P::prog_c2_S, "S", "programming noise sd, quadratic term c2",
       "Nandakumar et al. 2019 (aihwkit prog_coeff[2] = -1.1731 uS)", between(-1e-3, 1e-3)},
      {"prog_g_ref_S", &P::prog_g_ref_S, "S", "g_max at which c0..c2 were fitted (sigma_prog scales with g_max/g_ref)",
       "aihwkit prog_coeff_g_max_reference = 25 uS", {0.0, 1.0, true, false}},
      {"drift_nu_model", &P::drift_nu_model, "",
       "drift exponent: conductance (mu_nu, sigma_nu of the target state, fitted) or constant (drift_nu, "
       "sigma_drift_nu for every device)",
       "conductance: aihwkit PCMLikeNoiseModel.generate_drift_coefficients; constant: for controlled studies",
       {}, {"conductance", "constant"}},
      {"drift_scale", &P::drift_scale, "1", "scale of every drift exponent nu; 0 = no drift",
       "aihwkit PCMLikeNoiseModel drift_scale = 1", between(0.0, 100.0)},
      {"drift_nu", &P::drift_nu, "1", "constant model: mean drift exponent",
       "within the fitted mu_nu range [0.049, 0.1] of the conductance model (our choice)", between(0.0, 1.0)},
      {"sigma_drift_nu", &P::sigma_drift_nu, "1", "constant model: device-to-device sd of the drift exponent",
       "0: one exponent for every device (our choice; the fitted sigma_nu spans 0.008..0.045)", between(0.0, 1.0)},
      {"nu_mu_slope", &P::nu_mu_slope, "1", "mu_nu = clamp(slope ln(max(g_T/g_max, nu_g_rel_min)) + offset, min, max)",
       kAihwkitPcm, between(-1.0, 1.0)},
      {"nu_mu_offset", &P::nu_mu_offset, "1", "offset of mu_nu", kAihwkitPcm, between(-1.0, 1.0)},
      {"nu_mu_min", &P::nu_mu_min, "1", "lower clamp of mu_nu", kAihwkitPcm, between(0.0, 1.0)},
      {"nu_mu_max", &P::nu_mu_max, "1", "upper clamp of mu_nu", kAihwkitPcm, between(0.0, 1.0)},
      {"nu_sigma_slope", &P::nu_sigma_slope, "1",
       "sigma_nu = clamp(slope ln(max(g_T/g_max, nu_g_rel_min)) + offset, min, max)", kAihwkitPcm,
       between(-1.0, 1.0)},
      {"nu_sigma_offset", &P::nu_sigma_offset, "1", "offset of sigma_nu", kAihwkitPcm, between(-1.0, 1.0)},
      {"nu_sigma_min", &P::nu_sigma_min, "1", "lower clamp of sigma_nu", kAihwkitPcm, between(0.0, 1.0)},
      {"nu_sigma_max", &P::nu_sigma_max, "1", "upper clamp of sigma_nu", kAihwkitPcm, between(0.0, 1.0)},
      {"nu_g_rel_min", &P::nu_g_rel_min, "1", "floor of g_T/g_max inside the drift-exponent logarithms",
       "aihwkit _ZERO_CLIP = 1e-7", {0.0, 1.0, true, false}},
      {"t0_s", &P::t0_s, "s", "first read after programming: g(t) = g_prog ((t_inference + t0) / t0)^-nu",
       "aihwkit PCMLikeNoiseModel t_0 = 20 s", positive()},
      {"t_inference_s", &P::t_inference_s, "s", "time since the end of programming at which the tile is read",
       "aihwkit drift_analog_weights(t_inference); the field's study points 1 s .. 1 year (Joshi et al. 2020)",
       between(0.0, 1e12)},
      {"t_read_s", &P::t_read_s, "s", "read pulse width: 1/f noise sigma = Q_s sqrt(ln((t + t_read) / (2 t_read)))",
       "aihwkit PCMLikeNoiseModel t_read = 250 ns", positive()},
      {"read_noise_scale", &P::read_noise_scale, "1", "scale of the accumulated 1/f noise; 0 = off",
       "aihwkit PCMLikeNoiseModel read_noise_scale = 1", between(0.0, 100.0)},
      {"q_s_coeff", &P::q_s_coeff, "1",
       "Q_s = min(q_s_coeff / max((g_prog/g_max)^q_s_exponent, q_s_floor), q_s_max)",
       "Joshi et al. 2020 1/f fit as in aihwkit (docs: Q_s = min(0.0088 / g_T^0.65, 0.2))", between(0.0, 10.0)},
      {"q_s_exponent", &P::q_s_exponent, "1", "exponent of the state dependence of Q_s", kAihwkitPcm,
       between(0.0, 10.0)},
      {"q_s_floor", &P::q_s_floor, "1", "floor of (g_prog/g_max)^q_s_exponent in Q_s", "aihwkit (clamp min 1e-3)",
       {0.0, 1.0, true, false}},
      {"q_s_max", &P::q_s_max, "1", "upper clamp of Q_s", kAihwkitPcm, between(0.0, 10.0)},
      {"sigma_read", &P::sigma_read, "1",
       "per-read Gaussian conductance noise, sd relative to g_max, independent per device and read",
       "off by default (aihwkit adds short-term noise in its forward pass, not in the PCM model)",
       between(0.0, 10.0)},
  };
  return t;
}

void PcmParams::check() const {
  if (nu_mu_min > nu_mu_max)
    throw Error("parameter 'pcm.nu_mu_min' = " + to_str(nu_mu_min) + ": must be at most pcm.nu_mu_max = " +
                to_str(nu_mu_max));
  if (nu_sigma_min > nu_sigma_max)
    throw Error("parameter 'pcm.nu_sigma_min' = " + to_str(nu_sigma_min) +
                ": must be at most pcm.nu_sigma_max = " + to_str(nu_sigma_max));
  if (t_read_s > t0_s)
    throw Error("parameter 'pcm.t_read_s' = " + to_str(t_read_s) + ": must be at most pcm.t0_s = " + to_str(t0_s) +
                " (the 1/f noise integral ln((t + t_read) / (2 t_read)) would be negative)");
}

double PcmParams::sigma_prog(double g_t) const {
  const double r = g_t / g_max_S;
  return std::max(prog_c0_S + prog_c1_S * r + prog_c2_S * r * r, 0.0) * (g_max_S / prog_g_ref_S);
}

std::pair<double, double> PcmParams::nu_moments(double g_t) const {
  const double l = std::log(std::max(g_t / g_max_S, nu_g_rel_min));
  return {std::clamp(nu_mu_slope * l + nu_mu_offset, nu_mu_min, nu_mu_max),
          std::clamp(nu_sigma_slope * l + nu_sigma_offset, nu_sigma_min, nu_sigma_max)};
}

double PcmParams::q_s(double g_prog) const {
  return std::min(q_s_coeff / std::max(std::pow(std::abs(g_prog) / g_max_S, q_s_exponent), q_s_floor), q_s_max);
}

double PcmParams::noise_time_factor() const {
  const double t = t_inference_s + t0_s;
  return std::sqrt(std::max(std::log((t + t_read_s) / (2.0 * t_read_s)), 0.0));
}

void PcmProgrammedArray::mvm(const Eigen::Ref<const Matrix>& x, Matrix& y, Stream& read) const {
  require(x.cols() == w_eff_.rows(), "pcm mvm: input has " + std::to_string(x.cols()) + " features, tile has " +
                                         std::to_string(w_eff_.rows()) + " rows");
  y.resize(x.rows(), w_eff_.cols());
  y.noalias() = x * w_eff_;
  if (var0_ == 0.f) return;
  // Every pair has read variance var0: (x.^2) V = var0 ||x_b||^2 for every column (rram.hpp).
  Matrix z(x.rows(), w_eff_.cols());
  read.fill_normal(z);
  const Eigen::VectorXf sd = (x.rowwise().squaredNorm() * var0_).cwiseSqrt();
  y.array() += z.array().colwise() * sd.array();
}

PcmArrayModel::PcmArrayModel(const PcmParams& p) : p_(p) { validate(p_, "pcm"); }

std::unique_ptr<ProgrammedArray> PcmArrayModel::program(const Eigen::Ref<const Matrix>& w, float w_max,
                                                        Stream& prog) const {
  return program_pcm(w, w_max, prog);
}

std::unique_ptr<PcmProgrammedArray> PcmArrayModel::program_pcm(const Eigen::Ref<const Matrix>& w, float w_max,
                                                               Stream& prog) const {
  auto a = std::unique_ptr<PcmProgrammedArray>(new PcmProgrammedArray());
  program_into(*a, w, w_max, prog);
  return a;
}

std::unique_ptr<ProgrammedArray> PcmArrayModel::reprogram(std::unique_ptr<ProgrammedArray> old,
                                                          const Eigen::Ref<const Matrix>& w, float w_max,
                                                          Stream& prog) const {
  if (auto* a = dynamic_cast<PcmProgrammedArray*>(old.get())) {
    program_into(*a, w, w_max, prog);
    return old;
  }
  old.reset();
  return program(w, w_max, prog);
}

namespace {

/// The mechanisms' streams of one half (0: G+, 1: G-) of the pair and one row of their normals. A
/// stream that continues its fills row by row draws the same numbers as one fill of the whole tile
/// (core/random.hpp), so the draws are per device in row-major order.
struct HalfDraws {
  std::optional<Stream> prog, drift, noise;
  std::vector<float> z_prog, z_drift, z_noise;
  HalfDraws(const PcmParams& p, Stream& s, std::uint64_t half, Eigen::Index C, bool drift_draws) {
    if (p.prog_noise_scale > 0.0) {
      prog.emplace(s.child("pcm.prog", {half}));
      z_prog.resize(std::size_t(C));
    }
    if (drift_draws) {
      drift.emplace(s.child("pcm.drift", {half}));
      z_drift.resize(std::size_t(C));
    }
    if (p.read_noise_scale > 0.0) {
      noise.emplace(s.child("pcm.read_1f", {half}));
      z_noise.resize(std::size_t(C));
    }
  }
  void next_row() {
    if (prog) prog->fill_normal(std::span<float>(z_prog));
    if (drift) drift->fill_normal(std::span<float>(z_drift));
    if (noise) noise->fill_normal(std::span<float>(z_noise));
  }
};

/// Realizes one row of one half (pcm.hpp, steps 1-4): g_t target conductances in, g_prog and g out.
void realize_row(const PcmParams& p, const HalfDraws& d, Eigen::Index C, const double* g_t, double* g_prog,
                 double* g, double log_t, double noise_t) {
  const bool conductance_nu = p.drift_nu_model == "conductance";
  for (Eigen::Index j = 0; j < C; ++j) {
    double gp = g_t[j];
    if (d.prog) gp = std::max(gp + p.prog_noise_scale * p.sigma_prog(g_t[j]) * double(d.z_prog[j]), 0.0);
    g_prog[j] = gp;
    double nu = 0.0;
    if (p.drift_scale > 0.0 && log_t > 0.0) {
      if (conductance_nu) {
        const auto [mu, sd] = p.nu_moments(g_t[j]);
        nu = std::abs(mu + sd * double(d.z_drift[j])) * p.drift_scale;
      } else {
        nu = std::abs(p.drift_nu + (d.drift ? p.sigma_drift_nu * double(d.z_drift[j]) : 0.0)) * p.drift_scale;
      }
    }
    double gd = nu != 0.0 ? gp * std::exp(-nu * log_t) : gp;
    if (d.noise)
      gd = std::max(gd + std::abs(gd) * p.read_noise_scale * p.q_s(gp) * noise_t * double(d.z_noise[j]), 0.0);
    g[j] = gd;
  }
}

}  // namespace

void PcmArrayModel::program_into(PcmProgrammedArray& a, const Eigen::Ref<const Matrix>& w, float w_max,
                                 Stream& prog) const {
  if (!(w_max > 0.f) || !std::isfinite(w_max)) fail_param("pcm.w_max", w_max, "must be positive and finite");
  if (w.rows() < 1 || w.cols() < 1 || w.rows() > p_.rows || w.cols() > p_.cols)
    throw Error("pcm program: weight block " + std::to_string(w.rows()) + " x " + std::to_string(w.cols()) +
                " does not fit the tile of rows x cols = " + std::to_string(p_.rows) + " x " + std::to_string(p_.cols));
  const Eigen::Index R = w.rows(), C = w.cols();
  const double wm = double(w_max), gmax = p_.g_max_S, g_per_w = gmax / wm;
  const double log_t = std::log((p_.t_inference_s + p_.t0_s) / p_.t0_s);
  const double noise_t = p_.noise_time_factor();
  // Drift exponents are drawn whenever some device drifts: the conductance model always spreads them,
  // the constant model only with sigma_drift_nu > 0.
  const bool drift_draws =
      p_.drift_scale > 0.0 && log_t > 0.0 && (p_.drift_nu_model == "conductance" || p_.sigma_drift_nu > 0.0);
  HalfDraws dp(p_, prog, 0, C, drift_draws), dn(p_, prog, 1, C, drift_draws);

  a.scale_ = wm / gmax;
  a.var0_ = float(2.0 * std::pow(p_.sigma_read * wm, 2));
  for (Matrix* m : {&a.w_eff_, &a.w_ref_, &a.gp_plus_, &a.gp_minus_, &a.g_plus_, &a.g_minus_}) m->resize(R, C);
  const std::size_t nc = std::size_t(C);
  std::vector<double> tp(nc), tn(nc), pp(nc), pn(nc), gp(nc), gn(nc);
  int finite = 1;
  for (Eigen::Index i = 0; i < R; ++i) {
    const float* wr = w.row(i).data();
    for (Eigen::Index j = 0; j < C; ++j) {
      finite &= int(std::abs(wr[j]) <= std::numeric_limits<float>::max());
      const double wc = std::min(std::max(double(wr[j]), -wm), wm);
      tp[std::size_t(j)] = g_per_w * std::max(wc, 0.0);
      tn[std::size_t(j)] = g_per_w * std::max(-wc, 0.0);
    }
    dp.next_row();
    dn.next_row();
    realize_row(p_, dp, C, tp.data(), pp.data(), gp.data(), log_t, noise_t);
    realize_row(p_, dn, C, tn.data(), pn.data(), gn.data(), log_t, noise_t);
    float *we = a.w_eff_.row(i).data(), *wf = a.w_ref_.row(i).data();
    float *opp = a.gp_plus_.row(i).data(), *opn = a.gp_minus_.row(i).data();
    float *op = a.g_plus_.row(i).data(), *on = a.g_minus_.row(i).data();
    for (Eigen::Index j = 0; j < C; ++j) {
      const std::size_t k = std::size_t(j);
      we[j] = float((gp[k] - gn[k]) * a.scale_);
      wf[j] = float((pp[k] - pn[k]) * a.scale_);
      opp[j] = float(pp[k]);
      opn[j] = float(pn[k]);
      op[j] = float(gp[k]);
      on[j] = float(gn[k]);
    }
  }
  if (!finite) throw Error("pcm program: weight block contains non-finite values");
}

PcmParams PcmArrayModel::contract_ideal() {
  PcmParams p;
  p.rows = 64;
  p.cols = 32;
  p.prog_noise_scale = 0.0;
  p.drift_scale = 0.0;
  p.read_noise_scale = 0.0;
  return p;
}

PcmParams PcmArrayModel::contract_noisy() {
  PcmParams p;  // every mechanism of the model at its default, plus per-read noise
  p.rows = 64;
  p.cols = 32;
  p.t_inference_s = 3600.0;
  p.sigma_read = 0.02;
  return p;
}

std::vector<std::pair<PcmParams, std::string>> PcmArrayModel::contract_invalid() {
  std::vector<std::pair<PcmParams, std::string>> v;
  PcmParams p;
  p = {}; p.g_max_S = 0.0; v.emplace_back(p, "pcm.g_max_S");
  p = {}; p.prog_noise_scale = -1.0; v.emplace_back(p, "pcm.prog_noise_scale");
  p = {}; p.drift_nu_model = "linear"; v.emplace_back(p, "pcm.drift_nu_model");
  p = {}; p.drift_nu = -0.05; v.emplace_back(p, "pcm.drift_nu");
  p = {}; p.nu_mu_min = 0.2; v.emplace_back(p, "pcm.nu_mu_min");  // above nu_mu_max
  p = {}; p.nu_sigma_max = 0.001; v.emplace_back(p, "pcm.nu_sigma_min");
  p = {}; p.nu_g_rel_min = 0.0; v.emplace_back(p, "pcm.nu_g_rel_min");
  p = {}; p.t0_s = 0.0; v.emplace_back(p, "pcm.t0_s");
  p = {}; p.t_inference_s = -1.0; v.emplace_back(p, "pcm.t_inference_s");
  p = {}; p.t_read_s = 30.0; v.emplace_back(p, "pcm.t_read_s");  // longer than t0_s
  p = {}; p.q_s_floor = 0.0; v.emplace_back(p, "pcm.q_s_floor");
  p = {}; p.sigma_read = -0.1; v.emplace_back(p, "pcm.sigma_read");
  p = {}; p.rows = 0; v.emplace_back(p, "pcm.rows");
  p = {}; p.t_inference_s = std::numeric_limits<double>::quiet_NaN(); v.emplace_back(p, "pcm.t_inference_s");
  return v;
}

}  // namespace aimc::devices
