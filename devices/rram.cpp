#include "devices/rram.hpp"

#include <Eigen/SparseCore>
#include <Eigen/SparseLU>
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "core/error.hpp"

namespace aimc::devices {

std::span<const Param<RramParams>> RramParams::params() {
  using P = RramParams;
  static const Param<P> t[] = {
      {"rows", &P::rows, "1", "physical tile rows (inputs per tile)",
       "DNN+NeuroSim V1.3 default sub-array 128 x 128 (Param.cpp numRowSubArray)", between(1, 4096)},
      {"cols", &P::cols, "1", "physical tile columns (outputs per tile, each a G+/G- pair)",
       "DNN+NeuroSim V1.3 default sub-array 128 x 128 (Param.cpp numColSubArray)", between(1, 4096)},
      {"g_min_S", &P::g_min_S, "S", "minimum device conductance 1/R_off",
       "DNN+NeuroSim V1.3 Param.cpp: R_off = 150 x 6 kOhm = 900 kOhm", nonnegative()},
      {"g_max_S", &P::g_max_S, "S", "maximum device conductance 1/R_on",
       "DNN+NeuroSim V1.3 Param.cpp: R_on = 6 kOhm", positive()},
      {"levels", &P::levels, "1", "programmable conductance levels per device, equally spaced; 0 = continuous",
       "continuous by default; DNN+NeuroSim V1.3 default cellBit = 2 corresponds to levels = 4",
       between(0, 1 << 20)},
      {"prog_model", &P::prog_model, "",
       "programming variation: additive G_t + sigma (g_max - g_min) z, relative G_t (1 + sigma z), "
       "lognormal G_t exp(sigma z), z ~ N(0,1)",
       "Gaussian state-independent / state-proportional models as in CrossSim (NormalIndependent, "
       "NormalProportional); lognormal after the issue's w exp(theta), theta ~ N(0, sigma^2)",
       {}, {"additive", "relative", "lognormal"}},
      {"sigma_prog", &P::sigma_prog, "1", "programming variation spread (see prog_model), drawn once per device",
       "off by default (CrossSim programming_error default: disabled)", between(0.0, 10.0)},
      {"read_model", &P::read_model, "",
       "read noise: additive sigma * g_max per device, or relative sigma * G (state-proportional)",
       "CrossSim read_noise models NormalIndependent (relative to G_max) / NormalProportional (to G)",
       {}, {"additive", "relative"}},
      {"sigma_read", &P::sigma_read, "1", "per-read Gaussian conductance noise spread, independent per device and read",
       "off by default (CrossSim read_noise default: disabled)", between(0.0, 10.0)},
      {"p_stuck_min", &P::p_stuck_min, "1", "probability a device is stuck at g_min (SA0, high resistance)",
       "off by default; Chen et al., IEEE Trans. Comput. 64(1), 2015 measured 1.75 % SA0 on an RRAM chip",
       probability()},
      {"p_stuck_max", &P::p_stuck_max, "1", "probability a device is stuck at g_max (SA1, low resistance)",
       "off by default; Chen et al., IEEE Trans. Comput. 64(1), 2015 measured 9.04 % SA1 on an RRAM chip",
       probability()},
      {"drift_nu", &P::drift_nu, "1", "mean drift exponent nu in G(t) = G(t0) (t / t0)^(-nu)",
       "off by default; power-law drift as in Ielmini et al., IEEE TED 54(2), 2007 (PCM) and "
       "Boybat et al., NVMTS 2018", between(-1.0, 1.0)},
      {"sigma_drift_nu", &P::sigma_drift_nu, "1", "device-to-device spread of nu (Gaussian), drawn once per device",
       "off by default; per-device nu spread as in Boybat et al., NVMTS 2018", between(0.0, 1.0)},
      {"t0_s", &P::t0_s, "s", "reference time after programming at which G equals the programmed value",
       "drift reference time t0 of the power law (Ielmini et al. 2007)", positive()},
      {"t_read_s", &P::t_read_s, "s", "time after programming at which the tile is read",
       "equal to t0_s by default (no drift)", positive()},
      {"r_wire_Ohm", &P::r_wire_Ohm, "Ohm", "wire resistance of one cell-to-cell segment (first-order IR drop)",
       "off by default; DNN+NeuroSim V1.3 22 nm wires (rho 4.03e-8 Ohm m, 40 nm x 76 nm, 160 nm 1T1R row "
       "pitch) give about 2.1 Ohm per row segment", nonnegative()},
  };
  return t;
}

void RramParams::check() const {
  if (!(g_min_S < g_max_S))
    throw Error("parameter 'g_min_S' = " + to_str(g_min_S) + ": must be below g_max_S = " + to_str(g_max_S));
  if (levels == 1) throw Error("parameter 'levels' = 1: must be 0 (continuous) or at least 2");
  if (p_stuck_min + p_stuck_max > 1.0)
    throw Error("parameter 'p_stuck_min' + 'p_stuck_max' = " + to_str(p_stuck_min + p_stuck_max) +
                ": must be at most 1");
  if (t_read_s < t0_s)
    throw Error("parameter 't_read_s' = " + to_str(t_read_s) + ": must be at least t0_s = " + to_str(t0_s));
}

MatrixD ir_drop_first_order(const MatrixD& g, double r) {
  const Eigen::Index R = g.rows(), C = g.cols();
  MatrixD out = g;
  if (r == 0.0) return out;
  // Word line of row m: A_mj = sum_{c<=j} G_mc (c+1) + (j+1) sum_{c>j} G_mc.
  for (Eigen::Index m = 0; m < R; ++m) {
    double total = g.row(m).sum(), weighted = 0.0, below = 0.0;
    for (Eigen::Index j = 0; j < C; ++j) {
      weighted += g(m, j) * double(j + 1);
      below += g(m, j);
      const double a = weighted + double(j + 1) * (total - below);
      out(m, j) -= r * g(m, j) * a;
    }
  }
  // Bit line of column j: S_mj = (R - m) sum_{i<=m} G_ij + sum_{i>m} G_ij (R - i).
  std::vector<double> suffix(static_cast<std::size_t>(R) + 1);
  for (Eigen::Index j = 0; j < C; ++j) {
    suffix[R] = 0.0;
    for (Eigen::Index i = R - 1; i >= 0; --i) suffix[i] = suffix[i + 1] + g(i, j) * double(R - i);
    double prefix = 0.0;
    for (Eigen::Index m = 0; m < R; ++m) {
      prefix += g(m, j);
      const double s = double(R - m) * prefix + suffix[m + 1];
      out(m, j) -= r * g(m, j) * s;
    }
  }
  return out;
}

VectorD ir_drop_exact_currents(const MatrixD& g, const VectorD& v, double r) {
  require(r > 0.0, "ir_drop_exact_currents: r_wire_Ohm must be positive");
  require(v.size() == g.rows(), "ir_drop_exact_currents: input length must equal the number of rows");
  const Eigen::Index R = g.rows(), C = g.cols(), n = 2 * R * C;
  const double gw = 1.0 / r;
  auto U = [&](Eigen::Index i, Eigen::Index j) { return i * C + j; };          // row (word-line) nodes
  auto V = [&](Eigen::Index i, Eigen::Index j) { return R * C + i * C + j; };  // column (bit-line) nodes
  std::vector<Eigen::Triplet<double>> t;
  t.reserve(static_cast<std::size_t>(n) * 4);
  VectorD rhs = VectorD::Zero(n);
  for (Eigen::Index i = 0; i < R; ++i) {
    for (Eigen::Index j = 0; j < C; ++j) {
      const double G = g(i, j);
      // Row node: segment to the left (driver for j = 0), to the right (open end after C-1), the cell.
      double d = gw + (j + 1 < C ? gw : 0.0) + G;
      t.emplace_back(U(i, j), U(i, j), d);
      if (j > 0) t.emplace_back(U(i, j), U(i, j - 1), -gw);
      else rhs(U(i, j)) += gw * v(i);
      if (j + 1 < C) t.emplace_back(U(i, j), U(i, j + 1), -gw);
      t.emplace_back(U(i, j), V(i, j), -G);
      // Column node: segment above (open end before row 0), below (virtual ground after R-1), the cell.
      d = (i > 0 ? gw : 0.0) + gw + G;
      t.emplace_back(V(i, j), V(i, j), d);
      if (i > 0) t.emplace_back(V(i, j), V(i - 1, j), -gw);
      if (i + 1 < R) t.emplace_back(V(i, j), V(i + 1, j), -gw);
      t.emplace_back(V(i, j), U(i, j), -G);
    }
  }
  Eigen::SparseMatrix<double> A(n, n);
  A.setFromTriplets(t.begin(), t.end());
  Eigen::SparseLU<Eigen::SparseMatrix<double>> lu;
  lu.compute(A);
  require(lu.info() == Eigen::Success, "ir_drop_exact_currents: nodal matrix factorization failed");
  VectorD x = lu.solve(rhs);
  VectorD I(C);
  for (Eigen::Index j = 0; j < C; ++j) I(j) = gw * x(V(R - 1, j));
  return I;
}

void RramProgrammedArray::mvm(const Eigen::Ref<const Matrix>& x, Matrix& y, Stream& read) const {
  require(x.cols() == w_eff_.rows(), "rram mvm: input has " + std::to_string(x.cols()) +
                                         " features, tile has " + std::to_string(w_eff_.rows()) + " rows");
  y.resize(x.rows(), w_eff_.cols());
  y.noalias() = x * w_eff_;
  if (!has_read_noise_) return;
  Matrix z(x.rows(), w_eff_.cols());
  read.fill_normal(z);
  if (uniform_var_) {
    // Every V_ij = var0: (x.^2) * V = var0 * ||x_b||^2 for every column.
    const Eigen::VectorXf sd = (x.rowwise().squaredNorm() * var0_).cwiseSqrt();
    y.array() += z.array().colwise() * sd.array();
  } else {
    const Matrix x2 = x.cwiseAbs2();
    Matrix s(x.rows(), w_eff_.cols());
    s.noalias() = x2 * var_;
    y.array() += s.array().sqrt() * z.array();
  }
}

void RramProgrammedArray::mvm_sampled(const Eigen::Ref<const Matrix>& x, Matrix& y, Stream& read) const {
  require(x.cols() == w_eff_.rows(), "rram mvm_sampled: input width must equal the tile rows");
  y.resize(x.rows(), w_eff_.cols());
  const Matrix sd = read_variance().cwiseSqrt();
  Matrix e(w_eff_.rows(), w_eff_.cols());
  for (Eigen::Index b = 0; b < x.rows(); ++b) {
    read.fill_normal(e);
    const Matrix w = w_eff_ + sd.cwiseProduct(e);
    y.row(b).noalias() = x.row(b) * w;
  }
}

RramArrayModel::RramArrayModel(const RramParams& p) : p_(p) { validate(p_, "rram"); }

std::unique_ptr<ProgrammedArray> RramArrayModel::program(const Eigen::Ref<const Matrix>& w, float w_max,
                                                         Stream& prog) const {
  return program_rram(w, w_max, prog);
}

namespace {

/// The device-to-device draws of one half (0: G+, 1: G-) of the differential pair, per device in
/// row-major order. Each effect has its own child stream, so the draws of one do not depend on whether
/// another is enabled, and the two halves are independent.
/// The normals live in a buffer per thread and half that keeps its memory from tile to tile.
struct HalfDraws {
  const float* z = nullptr;     // programming variation: one standard normal per device (or none)
  std::optional<Stream> stuck;  // one uniform per device
  std::optional<Stream> drift;  // one normal per device (drift exponent)
  HalfDraws(const RramParams& p, Stream& prog, std::uint64_t half, std::size_t n) {
    if (p.sigma_prog > 0.0) {
      static thread_local std::vector<float> buffer[2];
      std::vector<float>& b = buffer[half];
      if (b.size() < n) b.resize(n);
      prog.child("rram.variation", {half}).fill_normal(std::span<float>(b.data(), n));
      z = b.data();
    }
    if (p.p_stuck_min > 0.0 || p.p_stuck_max > 0.0) stuck.emplace(prog.child("rram.stuck", {half}));
    if (p.t_read_s > p.t0_s && p.sigma_drift_nu > 0.0) drift.emplace(prog.child("rram.drift", {half}));
  }
};

enum class ProgModel { additive, relative, lognormal };

/// Realizes one row of devices from their target conductances g[0, C) (RramParams, steps 1-4 of
/// rram.hpp): level quantization, programming variation, stuck-at faults, drift. z: this row's
/// standard normals. Each effect is a separate loop over the row, so the common ones vectorize.
void realize_row(const RramParams& p, ProgModel model, double* g, Eigen::Index C, const float* z, HalfDraws& d,
                 std::uint8_t* fault, double log_t) {
  const double gmin = p.g_min_S, gmax = p.g_max_S, span = gmax - gmin;
  if (p.levels >= 2) {
    const double step = span / double(p.levels - 1);
    for (Eigen::Index j = 0; j < C; ++j) g[j] = std::round((g[j] - gmin) / step) * step + gmin;
  }
  if (z) {
    const double sp = p.sigma_prog, a = sp * span;
    switch (model) {
      case ProgModel::additive:
        for (Eigen::Index j = 0; j < C; ++j) g[j] = std::max(g[j] + a * double(z[j]), 0.0);
        break;
      case ProgModel::relative:
        for (Eigen::Index j = 0; j < C; ++j) g[j] = std::max(g[j] * (1.0 + sp * double(z[j])), 0.0);
        break;
      case ProgModel::lognormal:
        for (Eigen::Index j = 0; j < C; ++j) g[j] = std::max(g[j] * std::exp(sp * double(z[j])), 0.0);
        break;
    }
  }
  std::fill(fault, fault + C, std::uint8_t(0));
  if (d.stuck)
    for (Eigen::Index j = 0; j < C; ++j) {
      const double u = d.stuck->uniform();
      if (u < p.p_stuck_min) {
        g[j] = gmin;
        fault[j] = std::uint8_t(Fault::stuck_min);
      } else if (u < p.p_stuck_min + p.p_stuck_max) {
        g[j] = gmax;
        fault[j] = std::uint8_t(Fault::stuck_max);
      }
    }
  if (log_t > 0.0) {
    if (d.drift) {
      for (Eigen::Index j = 0; j < C; ++j) g[j] *= std::exp(-(p.drift_nu + p.sigma_drift_nu * d.drift->normal()) * log_t);
    } else if (p.drift_nu != 0.0) {
      const double f = std::exp(-p.drift_nu * log_t);
      for (Eigen::Index j = 0; j < C; ++j) g[j] *= f;
    }
  }
}

}  // namespace

std::unique_ptr<RramProgrammedArray> RramArrayModel::program_rram(const Eigen::Ref<const Matrix>& w, float w_max,
                                                                  Stream& prog) const {
  auto a = std::unique_ptr<RramProgrammedArray>(new RramProgrammedArray());
  program_into(*a, w, w_max, prog);
  return a;
}

std::unique_ptr<ProgrammedArray> RramArrayModel::reprogram(std::unique_ptr<ProgrammedArray> old,
                                                           const Eigen::Ref<const Matrix>& w, float w_max,
                                                           Stream& prog) const {
  if (auto* a = dynamic_cast<RramProgrammedArray*>(old.get())) {
    program_into(*a, w, w_max, prog);
    return old;
  }
  old.reset();
  return program(w, w_max, prog);
}

void RramArrayModel::program_into(RramProgrammedArray& a, const Eigen::Ref<const Matrix>& w, float w_max,
                                  Stream& prog) const {
  if (!(w_max > 0.f) || !std::isfinite(w_max)) fail_param("rram.w_max", w_max, "must be positive and finite");
  if (w.rows() < 1 || w.cols() < 1 || w.rows() > p_.rows || w.cols() > p_.cols)
    throw Error("rram program: weight block " + std::to_string(w.rows()) + " x " + std::to_string(w.cols()) +
                " does not fit the tile of rows x cols = " + std::to_string(p_.rows) + " x " + std::to_string(p_.cols));
  const Eigen::Index R = w.rows(), C = w.cols();
  const std::size_t n = std::size_t(R * C);
  const double gmin = p_.g_min_S, span = p_.g_max_S - p_.g_min_S, wm = double(w_max);
  const ProgModel model = p_.prog_model == "additive"   ? ProgModel::additive
                          : p_.prog_model == "relative" ? ProgModel::relative
                                                        : ProgModel::lognormal;
  const double log_t = p_.t_read_s > p_.t0_s ? std::log(p_.t_read_s / p_.t0_s) : 0.0;
  HalfDraws dp(p_, prog, 0, n), dn(p_, prog, 1, n);

  a.scale_ = wm / span;
  a.has_read_noise_ = p_.sigma_read > 0.0;
  const double s2 = a.scale_ * a.scale_;
  const bool relative_read = p_.read_model != "additive";
  const double k_rel = p_.sigma_read * p_.sigma_read * s2;
  const bool ir = p_.r_wire_Ohm > 0.0;
  a.g_plus_.resize(R, C);
  a.g_minus_.resize(R, C);
  a.f_plus_.resize(R, C);
  a.f_minus_.resize(R, C);
  a.w_eff_.resize(R, C);
  if (relative_read) a.var_.resize(R, C);
  MatrixD gp_ir, gn_ir;  // double conductances for the IR-drop solve
  if (ir) {
    gp_ir.resize(R, C);
    gn_ir.resize(R, C);
  }
  // Row by row: target conductances of the pair (G+ carries positive weights, G- negative ones, the
  // other side at g_min), each side realized, then the pair's effective weight and read-noise variance.
  // (Non-finite weights are detected on the way, without an early exit, and rejected at the end.)
  std::vector<double> gp(std::size_t(C), 0.0), gn(std::size_t(C), 0.0);
  const double g_per_w = span / wm;
  int finite = 1;
  for (Eigen::Index i = 0; i < R; ++i) {
    const float* wr = w.row(i).data();
    for (Eigen::Index j = 0; j < C; ++j) {
      finite &= int(std::abs(wr[j]) <= std::numeric_limits<float>::max());
      const double wc = std::min(std::max(double(wr[j]), -wm), wm);
      gp[j] = gmin + g_per_w * std::max(wc, 0.0);
      gn[j] = gmin + g_per_w * std::max(-wc, 0.0);
    }
    const std::size_t k0 = std::size_t(i * C);
    realize_row(p_, model, gp.data(), C, dp.z ? dp.z + k0 : nullptr, dp, a.f_plus_.row(i).data(), log_t);
    realize_row(p_, model, gn.data(), C, dn.z ? dn.z + k0 : nullptr, dn, a.f_minus_.row(i).data(), log_t);
    float *op = a.g_plus_.row(i).data(), *on = a.g_minus_.row(i).data(), *we = a.w_eff_.row(i).data();
    for (Eigen::Index j = 0; j < C; ++j) {
      op[j] = float(gp[j]);
      on[j] = float(gn[j]);
      we[j] = float((gp[j] - gn[j]) * a.scale_);
    }
    if (relative_read) {
      float* v = a.var_.row(i).data();
      for (Eigen::Index j = 0; j < C; ++j) v[j] = float((gp[j] * gp[j] + gn[j] * gn[j]) * k_rel);
    }
    if (ir) {
      for (Eigen::Index j = 0; j < C; ++j) {
        gp_ir(i, j) = gp[j];
        gn_ir(i, j) = gn[j];
      }
    }
  }
  if (!finite) throw Error("rram program: weight block contains non-finite values");
  if (ir)
    a.w_eff_ = ((ir_drop_first_order(gp_ir, p_.r_wire_Ohm) - ir_drop_first_order(gn_ir, p_.r_wire_Ohm)) * a.scale_)
                    .cast<float>();

  // Read noise of the pair in weight units^2: (var(G+) + var(G-)) * scale^2. Read noise acts on the
  // conductances after IR-drop folding to first order only (its IR-drop modulation is O(r * sigma)).
  a.uniform_var_ = !relative_read;
  a.var0_ = relative_read ? 0.f : float(2.0 * std::pow(p_.sigma_read * p_.g_max_S, 2) * s2);
  if (!relative_read) a.var_.resize(0, 0);
}

RramParams RramArrayModel::contract_ideal() {
  RramParams p;
  p.rows = 64;
  p.cols = 32;
  return p;
}

RramParams RramArrayModel::contract_noisy() {
  RramParams p = contract_ideal();
  p.prog_model = "lognormal";
  p.sigma_prog = 0.05;
  p.read_model = "relative";
  p.sigma_read = 0.02;
  p.p_stuck_min = 0.01;
  p.p_stuck_max = 0.01;
  return p;
}

std::vector<std::pair<RramParams, std::string>> RramArrayModel::contract_invalid() {
  std::vector<std::pair<RramParams, std::string>> v;
  RramParams p;
  p = {}; p.g_min_S = 2e-4; v.emplace_back(p, "g_min_S");          // G_min >= G_max
  p = {}; p.g_max_S = -1e-4; v.emplace_back(p, "g_max_S");
  p = {}; p.levels = 1; v.emplace_back(p, "levels");
  p = {}; p.levels = -3; v.emplace_back(p, "levels");
  p = {}; p.sigma_prog = -0.1; v.emplace_back(p, "sigma_prog");
  p = {}; p.sigma_read = -0.1; v.emplace_back(p, "sigma_read");
  p = {}; p.p_stuck_min = 1.5; v.emplace_back(p, "p_stuck_min");
  p = {}; p.p_stuck_min = 0.6; p.p_stuck_max = 0.6; v.emplace_back(p, "p_stuck_max");
  p = {}; p.prog_model = "gaussian"; v.emplace_back(p, "prog_model");
  p = {}; p.rows = 0; v.emplace_back(p, "rows");
  p = {}; p.t_read_s = 0.5; v.emplace_back(p, "t_read_s");
  p = {}; p.r_wire_Ohm = -1.0; v.emplace_back(p, "r_wire_Ohm");
  return v;
}

}  // namespace aimc::devices
