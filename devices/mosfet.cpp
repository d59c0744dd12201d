#include "devices/mosfet.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.hpp"
#include "devices/variation.hpp"

namespace aimc::devices {

namespace {
constexpr std::string_view kDey =
    "assumption, on the principle of Dey et al. arXiv 1907.00625 (gate voltage = weight, triode read)";
constexpr std::string_view kGeneric = "assumption: generic 180 nm-class NMOS (textbook order of magnitude)";
}  // namespace

std::span<const Param<MosfetParams>> MosfetParams::params() {
  using P = MosfetParams;
  static const Param<P> p[] = {
      {"v_t0_V", &P::v_t0_V, "V", "nominal threshold voltage", kGeneric, between(-1.0, 2.0)},
      {"n_slope", &P::n_slope, "1", "subthreshold slope factor n",
       "EKV typical 1.2-1.5 (Enz, Krummenacher, Vittoz 1995)", between(1.0, 3.0)},
      {"k_prime_AV2", &P::k_prime_AV2, "A/V^2", "process transconductance mu C_ox", kGeneric, {0.0, 1e-2, true, false}},
      {"w_m", &P::w_m, "m", "channel width", "assumption (1 um, matching-friendly synapse)", {0.0, 1e-3, true, false}},
      {"l_m", &P::l_m, "m", "channel length", "assumption (1 um)", {0.0, 1e-3, true, false}},
      {"lambda_per_V", &P::lambda_per_V, "1/V", "channel-length modulation (output conductance)",
       "0: long channel", between(0.0, 1.0)},
      {"temperature_K", &P::temperature_K, "K", "temperature (U_T = kT/q and thermal noise)", "room temperature",
       {0.0, 1000.0, true, false}},
      {"a_vt_Vm", &P::a_vt_Vm, "V m", "Pelgrom coefficient of V_T (single device); 0 disables",
       "estimate: Pelgrom rule ~1 mV um per nm oxide, t_ox ~4 nm at 180 nm, per device", between(0.0, 1e-7)},
      {"sigma_vt_global_V", &P::sigma_vt_global_V, "V", "die-to-die sigma of V_T", "0: a typical die",
       between(0.0, 0.5)},
      {"v_read_V", &P::v_read_V, "V", "drain voltage of a read (triode region)", kDey, {0.0, 2.0, true, false}},
      {"t_read_s", &P::t_read_s, "s", "read pulse width of a full-scale input", "assumption (10 ns)",
       {0.0, 1.0, true, false}},
      {"x_max", &P::x_max, "1", "input full scale (input units)", "inputs in [-1, 1]", {0.0, 1e30, true, false}},
      {"v_g_min_V", &P::v_g_min_V, "V", "lowest gate voltage (weight -w_max)", kDey, between(-2.0, 5.0)},
      {"v_g_max_V", &P::v_g_max_V, "V", "highest gate voltage (weight +w_max)", kDey, between(-2.0, 5.0)},
      {"dv_g_step_V", &P::dv_g_step_V, "V", "gate-voltage change of one update pulse",
       "assumption: 64 steps over the gate range (6-bit)", {0.0, 5.0, true, false}},
      {"max_pulses", &P::max_pulses, "1", "most pulses per update (either sign)",
       "assumption: an update moves V_G by at most 1/8 of the gate range (8 of 64 steps)", between(1, 1 << 20)},
      {"read_noise", &P::read_noise, "", "channel thermal noise per read", "physical; false only for tests"},
  };
  return p;
}

void MosfetParams::check() const {
  if (!(v_g_max_V > v_g_min_V)) {
    std::ostringstream os;
    os << "parameter 'v_g_max_V' = " << v_g_max_V << ": must exceed v_g_min_V = " << v_g_min_V;
    throw Error(os.str());
  }
  if (!(dv_g_step_V <= v_g_max_V - v_g_min_V)) {
    std::ostringstream os;
    os << "parameter 'dv_g_step_V' = " << dv_g_step_V << ": must not exceed the gate range "
       << v_g_max_V - v_g_min_V << " V";
    throw Error(os.str());
  }
}

namespace {
/// ln(1 + e^x) without overflow.
double softplus(double x) { return x > 30 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
/// EKV interpolation function F(v) = ln^2(1 + e^(v/2)).
double ekv_f(double v) {
  double s = softplus(v / 2);
  return s * s;
}
}  // namespace

double drain_current_A(const MosfetParams& p, double v_g, double v_d, double v_s, double dvt) {
  const double ut = thermal_voltage_V(p.temperature_K);
  const double beta = p.k_prime_AV2 * p.w_m / p.l_m;
  const double i_spec = 2 * p.n_slope * beta * ut * ut;
  const double v_p = (v_g - p.v_t0_V - dvt) / p.n_slope;
  const double i = i_spec * (ekv_f((v_p - v_s) / ut) - ekv_f((v_p - v_d) / ut));
  return i * (1.0 + p.lambda_per_V * std::abs(v_d - v_s));
}

double conductance_S(const MosfetParams& p, double v_g, double dvt) {
  return drain_current_A(p, v_g, p.v_read_V, 0.0, dvt) / p.v_read_V;
}

int gate_levels(const MosfetParams& p) {
  return int(std::floor((p.v_g_max_V - p.v_g_min_V) / p.dv_g_step_V + 1e-9)) + 1;
}

double gate_level_V(const MosfetParams& p, int i) { return p.v_g_min_V + i * p.dv_g_step_V; }

namespace {
struct WeightMap {
  double g_mid, scale;
};
WeightMap weight_map(const MosfetParams& p, double w_max) {
  const double g_min = conductance_S(p, p.v_g_min_V), g_max = conductance_S(p, p.v_g_max_V);
  return {0.5 * (g_min + g_max), w_max / (0.5 * (g_max - g_min))};
}
}  // namespace

std::vector<double> weight_levels(const MosfetParams& p, double w_max) {
  const auto m = weight_map(p, w_max);
  std::vector<double> w(gate_levels(p));
  for (int i = 0; i < int(w.size()); ++i) w[i] = (conductance_S(p, gate_level_V(p, i)) - m.g_mid) * m.scale;
  return w;
}

void apply_pulses(const MosfetParams& p, MatrixI& level, const Eigen::Ref<const MatrixI>& pulses) {
  require(pulses.rows() == level.rows() && pulses.cols() == level.cols(),
          "apply_pulses: pulse matrix shape differs from the array");
  const int top = gate_levels(p) - 1;
  for (Eigen::Index i = 0; i < level.rows(); ++i)
    for (Eigen::Index j = 0; j < level.cols(); ++j) {
      int n = std::clamp(pulses(i, j), -p.max_pulses, p.max_pulses);
      level(i, j) = std::clamp(level(i, j) + n, 0, top);
    }
}

MosfetArray::MosfetArray(const MosfetParams& p, double w_max, MatrixI level, MatrixD dvt)
    : p_(p), w_max_(w_max), level_(std::move(level)), dvt_(std::move(dvt)) {
  const auto m = weight_map(p_, w_max_);
  g_mid_ = m.g_mid;
  scale_ = m.scale;
  refresh();
}

void MosfetArray::refresh() {
  g_.resize(level_.rows(), level_.cols());
  for (Eigen::Index i = 0; i < level_.rows(); ++i)
    for (Eigen::Index j = 0; j < level_.cols(); ++j)
      g_(i, j) = devices::conductance_S(p_, gate_level_V(p_, level_(i, j)), dvt_(i, j));
}

MatrixD MosfetArray::gate_voltage_V() const {
  return (p_.v_g_min_V + p_.dv_g_step_V * level_.cast<double>().array()).matrix();
}

void MosfetArray::update(const Eigen::Ref<const MatrixI>& pulses) {
  apply_pulses(p_, level_, pulses);
  refresh();
}

Matrix MosfetArray::effective_weights() const { return ((g_.array() - g_mid_) * scale_).matrix().cast<float>(); }

void MosfetArray::mvm(const Eigen::Ref<const Matrix>& x, Matrix& y, Stream& read) const {
  require(x.cols() == rows(), "mosfet mvm: input has " + to_str(x.cols()) + " columns, array has " + to_str(rows()) +
                                  " rows");
  const double xm = p_.x_max;
  MatrixD xc = x.cast<double>().cwiseMax(-xm).cwiseMin(xm);
  MatrixD yd = scale_ * (xc * (g_.array() - g_mid_).matrix());
  const double kt = kT_J(p_.temperature_K);
  if (p_.read_noise && kt > 0) {
    // Var(y) = (x_max scale / (V_read t_read))^2 sum_j 2 k T G_j |x_j| / x_max t_read
    const double k = xm * scale_ / (p_.v_read_V * p_.t_read_s);
    const double kappa = 2 * kt * p_.t_read_s * k * k;
    MatrixD var = kappa * ((xc.cwiseAbs() / xm) * g_);
    for (Eigen::Index b = 0; b < yd.rows(); ++b)
      for (Eigen::Index c = 0; c < yd.cols(); ++c) yd(b, c) += std::sqrt(var(b, c)) * read.normal();
  }
  y = yd.cast<float>();
}

void MosfetArray::mvm_sampled(const Eigen::Ref<const Matrix>& x, Matrix& y, Stream& read) const {
  require(x.cols() == rows(), "mosfet mvm_sampled: input has " + to_str(x.cols()) + " columns, array has " +
                                  to_str(rows()) + " rows");
  const double xm = p_.x_max;
  MatrixD xc = x.cast<double>().cwiseMax(-xm).cwiseMin(xm);
  MatrixD yd = scale_ * (xc * (g_.array() - g_mid_).matrix());
  const double kt = kT_J(p_.temperature_K);
  if (p_.read_noise && kt > 0) {
    const double k = xm * scale_ / (p_.v_read_V * p_.t_read_s);  // weight units per coulomb
    for (Eigen::Index b = 0; b < yd.rows(); ++b)
      for (Eigen::Index j = 0; j < g_.rows(); ++j) {
        const double pulse = std::abs(xc(b, j)) / xm * p_.t_read_s;
        for (Eigen::Index c = 0; c < g_.cols(); ++c)
          yd(b, c) += k * std::sqrt(2 * kt * g_(j, c) * pulse) * read.normal();
      }
  }
  y = yd.cast<float>();
}

MosfetArrayModel::MosfetArrayModel(const MosfetParams& p) : p_(p) { aimc::validate(p_, "mosfet"); }

std::unique_ptr<MosfetArray> MosfetArrayModel::program_mosfet(const Eigen::Ref<const Matrix>& w, float w_max,
                                                              Stream& prog) const {
  if (!(w_max > 0)) fail_param("w_max", w_max, "must be > 0");
  const auto levels = weight_levels(p_, w_max);
  MatrixI level(w.rows(), w.cols());
  for (Eigen::Index i = 0; i < w.rows(); ++i)
    for (Eigen::Index j = 0; j < w.cols(); ++j) {
      const double v = w(i, j);
      auto it = std::lower_bound(levels.begin(), levels.end(), v);
      int k = int(it - levels.begin());
      if (k == int(levels.size())) k = int(levels.size()) - 1;
      else if (k > 0 && v - levels[k - 1] <= levels[k] - v) k = k - 1;
      level(i, j) = k;
    }
  const double sigma_local = pelgrom_sigma_vt_V(p_.a_vt_Vm, p_.w_m, p_.l_m);
  const double dvt_die = p_.sigma_vt_global_V * prog.normal();
  MatrixD dvt(w.rows(), w.cols());
  for (Eigen::Index i = 0; i < w.rows(); ++i)
    for (Eigen::Index j = 0; j < w.cols(); ++j) dvt(i, j) = dvt_die + sigma_local * prog.normal();
  return std::make_unique<MosfetArray>(p_, w_max, std::move(level), std::move(dvt));
}

std::unique_ptr<ProgrammedArray> MosfetArrayModel::program(const Eigen::Ref<const Matrix>& w, float w_max,
                                                           Stream& prog) const {
  return program_mosfet(w, w_max, prog);
}

MosfetParams MosfetArrayModel::contract_ideal() {
  MosfetParams p;
  p.a_vt_Vm = 0;
  p.sigma_vt_global_V = 0;
  p.read_noise = false;
  return p;
}

MosfetParams MosfetArrayModel::contract_noisy() { return MosfetParams{}; }

std::vector<std::pair<MosfetParams, std::string>> MosfetArrayModel::contract_invalid() {
  std::vector<std::pair<MosfetParams, std::string>> v;
  MosfetParams p;
  p.w_m = -1e-6;
  v.emplace_back(p, "w_m");
  p = MosfetParams{};
  p.v_g_max_V = p.v_g_min_V;
  v.emplace_back(p, "v_g_max_V");
  p = MosfetParams{};
  p.max_pulses = 0;
  v.emplace_back(p, "max_pulses");
  p = MosfetParams{};
  p.n_slope = 0.5;
  v.emplace_back(p, "n_slope");
  return v;
}

Matrix MosfetArrayModel::contract_weights(int rows, int cols, float w_max, Stream& s) {
  const auto levels = weight_levels(MosfetParams{}, w_max);
  Matrix w(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) w(i, j) = float(levels[s.below(levels.size())]);
  return w;
}

}  // namespace aimc::devices
