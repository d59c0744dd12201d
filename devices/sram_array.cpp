#include "devices/sram_array.hpp"

#include <cmath>

#include "core/error.hpp"
#include "devices/sram_physics.hpp"

namespace aimc::devices {

using namespace sram_detail;

namespace {
std::string tag(const QsParams&) { return "sram_qs"; }
std::string tag(const IsParams&) { return "sram_is"; }
std::string tag(const QrParams&) { return "sram_qr"; }

template <class P>
class ProgrammedSramArray final : public ProgrammedArray {
 public:
  ProgrammedSramArray(const SramModel<P>& m, const SramOperatingPoint& op, SramRealization r, double dx, double dw)
      : m_(m), op_(op), r_(std::move(r)), dx_(dx), dw_(dw) {}
  int rows() const override { return r_.rows; }
  int cols() const override { return r_.cols; }

  void mvm(const Eigen::Ref<const Matrix>& x, Matrix& y, Stream& read) const override {
    require(x.cols() == r_.rows, name() + " mvm: input has " + to_str(x.cols()) + " columns, array has " +
                                     to_str(r_.rows) + " rows");
    const double mx = std::ldexp(1.0, m_.circuit.b_x) - 1;
    MatrixD xl = (x.cast<double>() / dx_).cwiseMax(-mx).cwiseMin(mx);
    MatrixD yl;
    analog_mvm(m_, op_, r_, xl, yl, read);
    y = (dx_ * dw_ * yl).cast<float>();
  }

  Matrix effective_weights() const override {
    const double mw = std::ldexp(1.0, m_.circuit.b_w) - 1;
    MatrixD acc = MatrixD::Zero(r_.rows, r_.cols);
    for (int k = 0; k < m_.circuit.b_w; ++k) acc += std::ldexp(1.0, k) * r_.gain[k];
    return (dw_ * (2.0 * acc.array() - mw)).matrix().cast<float>();
  }

 private:
  std::string name() const { return tag(m_.circuit); }
  SramModel<P> m_;
  SramOperatingPoint op_;
  SramRealization r_;
  double dx_, dw_;  // input and weight level steps
};
}  // namespace

namespace sram_detail {

template <class P>
void analog_mvm(const SramModel<P>& m, const SramOperatingPoint& op, const SramRealization& r, const MatrixD& xl,
                MatrixD& yl, Stream& rs) {
  const Eigen::Index batch = xl.rows();
  const double mw = std::ldexp(1.0, m.circuit.b_w) - 1;
  yl = MatrixD::Zero(batch, r.cols);
  const Eigen::Index planes = m.circuit.b_w, per_row = 2 * planes * r.cols;
  std::vector<float> z(std::size_t(batch * per_row));
  rs.fill_normal(z);
  for (int phase = 0; phase < 2; ++phase) {
    const double sign = phase == 0 ? 1.0 : -1.0;
    MatrixD xt = (sign * xl).cwiseMax(0.0);
    std::vector<char> active(batch);
    bool any = false;
    for (Eigen::Index b = 0; b < batch; ++b) any |= (active[b] = (xt.row(b).array() > 0).any());
    if (!any) continue;
    MatrixD acc = MatrixD::Zero(batch, r.cols);
    for (int k = 0; k < m.circuit.b_w; ++k) {
      MatrixD s = xt * r.gain[k];
      const PlaneNormals zk(z.data() + (phase * planes + k) * r.cols, batch, r.cols, Eigen::OuterStride<>(per_row));
      plane_noise(m, op, r, k, xt, active, s, zk);
      acc += std::ldexp(1.0, k) * s;
    }
    VectorD xsum = xt.rowwise().sum();
    acc *= 2.0;
    acc.colwise() -= mw * xsum;
    yl += sign * acc;
  }
}

template void analog_mvm(const QsModel&, const SramOperatingPoint&, const SramRealization&, const MatrixD&, MatrixD&,
                         Stream&);
template void analog_mvm(const IsModel&, const SramOperatingPoint&, const SramRealization&, const MatrixD&, MatrixD&,
                         Stream&);
template void analog_mvm(const QrModel&, const SramOperatingPoint&, const SramRealization&, const MatrixD&, MatrixD&,
                         Stream&);

}  // namespace sram_detail

template <class P>
SramArrayModel<P>::SramArrayModel(SramModel<P> model, double x_max)
    : model_(std::move(model)), x_max_(x_max), op_(operating_point(model_)) {
  if (!(x_max > 0)) fail_param("x_max", x_max, "must be > 0 (input full scale)");
}

template <class P>
std::string SramArrayModel<P>::name() const {
  return tag(model_.circuit);
}

template <class P>
std::unique_ptr<ProgrammedArray> SramArrayModel<P>::program(const Eigen::Ref<const Matrix>& w, float w_max,
                                                            Stream& prog) const {
  if (!(w_max > 0)) fail_param("w_max", w_max, "must be > 0");
  require(w.rows() <= model_.circuit.n_rows, name() + ": " + to_str(w.rows()) + " weight rows exceed n_rows = " +
                                                 to_str(model_.circuit.n_rows));
  const int mw = (1 << model_.circuit.b_w) - 1;
  const double dw = double(w_max) / mw;
  MatrixI codes(w.rows(), w.cols());
  for (Eigen::Index i = 0; i < w.rows(); ++i)
    for (Eigen::Index j = 0; j < w.cols(); ++j) {
      double a = std::round((double(w(i, j)) / dw + mw) / 2.0);
      codes(i, j) = std::int32_t(std::clamp(a, 0.0, double(mw)));
    }
  auto r = realize(model_, op_, codes, prog);
  const double dx = x_max_ / ((1 << model_.circuit.b_x) - 1);
  return std::make_unique<ProgrammedSramArray<P>>(model_, op_, std::move(r), dx, dw);
}

template <class P>
typename SramArrayModel<P>::Params SramArrayModel<P>::contract_ideal() {
  return noiseless(Params{});
}

template <class P>
typename SramArrayModel<P>::Params SramArrayModel<P>::contract_noisy() {
  return Params{};
}

template <class P>
std::vector<std::pair<typename SramArrayModel<P>::Params, std::string>> SramArrayModel<P>::contract_invalid() {
  std::vector<std::pair<Params, std::string>> v;
  Params p;
  p.circuit.b_w = 0;
  v.emplace_back(p, "b_w");
  p = Params{};
  p.circuit.n_rows = 0;
  v.emplace_back(p, "n_rows");
  p = Params{};
  p.tech.c_bl_cell_F = -1e-15;
  v.emplace_back(p, "c_bl_cell_F");
  p = Params{};
  p.tech.v_t_V = 2 * p.tech.v_dd_V;
  v.emplace_back(p, "v_t_V");
  p = Params{};
  p.var.temperature_K = -1;
  v.emplace_back(p, "temperature_K");
  return v;
}

template <class P>
Matrix SramArrayModel<P>::contract_weights(int rows, int cols, float w_max, Stream& s) {
  const int mw = (1 << Params{}.circuit.b_w) - 1;
  Matrix w(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) w(i, j) = float(double(w_max) / mw * (2.0 * double(s.below(mw + 1)) - mw));
  return w;
}

template class SramArrayModel<QsParams>;
template class SramArrayModel<IsParams>;
template class SramArrayModel<QrParams>;

namespace {
template <class P>
DpSamples sample_impl(const SramModel<P>& m, int n, const Stream& s) {
  require(n >= 1, "sample_dot_products: n must be >= 1, got " + to_str(n));
  const auto op = operating_point(m);
  const int N = m.circuit.n_rows;
  const std::uint64_t lw = std::uint64_t(1) << m.circuit.b_w, lx = std::uint64_t(1) << m.circuit.b_x;
  DpSamples out;
  out.ideal.resize(n);
  out.analog.resize(n);
  MatrixI codes(N, 1);
  MatrixD x(1, N), y;
  for (int i = 0; i < n; ++i) {
    Stream si = s.child("dp", {std::uint64_t(i)});
    double ideal = 0;
    for (int j = 0; j < N; ++j) {
      codes(j, 0) = std::int32_t(si.below(lw));
      x(0, j) = double(si.below(lx));
      ideal += (2.0 * codes(j, 0) - double(lw - 1)) * x(0, j);
    }
    auto r = realize(m, op, codes, si);
    analog_mvm(m, op, r, x, y, si);
    out.ideal(i) = ideal;
    out.analog(i) = y(0, 0);
  }
  return out;
}
}  // namespace

DpSamples sample_dot_products(const QsModel& m, int n, const Stream& s) { return sample_impl(m, n, s); }
DpSamples sample_dot_products(const IsModel& m, int n, const Stream& s) { return sample_impl(m, n, s); }
DpSamples sample_dot_products(const QrModel& m, int n, const Stream& s) { return sample_impl(m, n, s); }

}  // namespace aimc::devices
