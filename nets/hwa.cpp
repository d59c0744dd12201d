#include "nets/hwa.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <optional>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "nets/conv2d.hpp"
#include "nets/dense.hpp"

namespace aimc::nets {

std::span<const Param<HwaParams>> HwaParams::params() {
  using P = HwaParams;
  static const Param<P> p[] = {
      {"weight_noise", &P::weight_noise, "", "weight perturbation drawn once per mini-batch",
       "aihwkit WeightModifierParameter (add_normal, mult_normal); Joshi et al., Nat. Commun. 2020", {},
       {"none", "additive", "multiplicative", "lognormal", "device"}},
      {"sigma_w", &P::sigma_w, "1",
       "weight-noise spread: additive relative to the layer's max |w|, multiplicative and lognormal relative to w",
       "Joshi et al., Nat. Commun. 11, 2473 (2020), Methods (additive, relative to max |w|)", {0.0, 10.0}},
      {"io", &P::io, "", "DAC and read-out (mapping.readout: ADC or sense amplifier) in the training forward, STE backward",
       "Bengio et al. 2013 (straight-through estimator)", {}, {"ideal", "quantized"}},
      {"partial_sums", &P::partial_sums, "",
       "io = quantized: read-out of each output channel's whole dot product (layer) or of each mapping.tile_rows "
       "row block's partial sum, summed digitally (tile)",
       "tile: the analog mapping's per-tile conversion (nets/analog.hpp); 1-bit partial sums of Apolinario et al., "
       "arXiv:2211.02167",
       {}, {"layer", "tile"}},
      {"input_range", &P::input_range, "",
       "DAC full scale: max |x| of the calibration batch, or trained from it (io = quantized)",
       "aihwkit InputRangeParameter (learn_input_range); Choi et al., PACT, arXiv:1805.06085 (2018)", {},
       {"calibrated", "learned"}},
      {"sigma_out", &P::sigma_out, "1", "additive Gaussian output noise relative to the channel's full scale",
       "aihwkit IOParameters out_noise (relative to the output bound)", {0.0, 10.0}},
      {"clip", &P::clip, "", "weight clipping after each optimizer step",
       "aihwkit WeightClipParameter (FIXED_VALUE, LAYER_GAUSSIAN)", {}, {"none", "fixed", "sigma"}},
      {"clip_value", &P::clip_value, "1", "fixed: bound on |w|; sigma: bound in standard deviations of the layer's W",
       "aihwkit WeightClipParameter (fixed_value, sigma)", {0.0, 1e6}},
  };
  return p;
}

void HwaParams::check() const {
  if (clip != "none" && !(clip_value > 0))
    throw Error("parameter 'hwa.clip_value' = " + std::to_string(clip_value) + ": must be > 0 when hwa.clip = \"" +
                clip + "\"");
  if (input_range == "learned" && io != "quantized")
    throw Error("parameter 'hwa.input_range' = \"learned\": needs hwa.io = \"quantized\" (a DAC to learn the range of)");
  if (weight_noise != "none" && weight_noise != "device" && !(sigma_w > 0))
    throw Error("parameter 'hwa.sigma_w' = " + std::to_string(sigma_w) + ": must be > 0 when hwa.weight_noise = \"" +
                weight_noise + "\"");
}

namespace {

Parameter& slot(MatmulLayer& layer, std::size_t i, const char* name) {
  auto params = layer.parameters();
  if (params.size() <= i || params[i]->name != name)
    throw Error("hwa: layer '" + layer.spec().kind + "' has no parameter '" + name + "' in slot " + std::to_string(i));
  return *params[i];
}

/// Output rows of a matmul layer viewed as (batch * positions, channels): channels are the last,
/// contiguous axis of every layer output (core/tensor.hpp), so the view is a reinterpretation.
Eigen::Map<Matrix> channel_view(Matrix& y, const MatmulLayer& layer) {
  const Eigen::Index n = layer.weight().cols();
  return Eigen::Map<Matrix>(y.data(), y.size() / n, n);
}

/// M = 1 where |Y| <= s_j (column j), 0 where the read-out clips: the straight-through mask. Row by
/// row with per-channel constants: channels are the contiguous axis, so a column pass would stride
/// over the whole output once per channel (Y is 12.8 MB for conv1 at batch 128).
/// M is a row-major float (layer) or byte (tile: one mask per row block) matrix of Y's shape.
template <class MaskRef>
void clip_mask(const Eigen::Ref<const Matrix>& Y, const std::vector<double>& s, std::vector<float>& per_channel,
               MaskRef&& M) {
  using T = std::remove_cvref_t<decltype(*M.data())>;
  const Eigen::Index C = Y.cols();
  per_channel.resize(std::size_t(C));
  for (Eigen::Index j = 0; j < C; ++j) per_channel[std::size_t(j)] = float(s[std::size_t(j)]);
  for (Eigen::Index i = 0; i < Y.rows(); ++i) {
    const float* yr = Y.data() + i * Y.outerStride();
    T* mr = M.data() + i * M.outerStride();
    for (Eigen::Index j = 0; j < C; ++j) mr[j] = std::abs(yr[j]) <= per_channel[std::size_t(j)] ? T(1) : T(0);
  }
}

}  // namespace

class HwaTraining::Product final : public nets::Product {
 public:
  Product(const HwaParams& p, AnalogConfig lc, std::uint64_t seed, std::uint64_t ordinal, const std::uint64_t* step)
      : p_(p), lc_(std::move(lc)), seed_(seed), ordinal_(ordinal), step_(step) {
    range_.name = "input_range";
    range_.decay = false;
    range_.trainable = p_.input_range == "learned";
  }

  void forward(MatmulLayer& layer, const Matrix& x, Matrix& y, Mode mode) override {
    restore(layer);
    if (mode == Mode::eval) {
      layer.forward(x, y, mode);
      if (calibrating_) record(layer, x, y);
      return;
    }
    const bool quantized = p_.io == "quantized";
    if (((quantized || p_.sigma_out > 0 || p_.weight_noise == "device") && !calibrated_))
      throw Error("hwa: train-mode forward before calibrate() (needed by hwa.io = \"quantized\", hwa.sigma_out > 0 "
                  "and hwa.weight_noise = \"device\")");
    // 1. weight noise on the reference weights, kept until backward()
    if (p_.weight_noise != "none") {
      Parameter& w = slot(layer, 0, "weight");
      w_ref_ = w.value;
      Stream s(seed_, "hwa.weights", {*step_, ordinal_});
      const float sw = float(p_.sigma_w);
      if (p_.weight_noise == "device") {
        program(s, w.value);
      } else {
        z_.resize(w.value.rows(), w.value.cols());
        s.fill_normal(z_);
        if (p_.weight_noise == "additive") {
          const float scale = sw * w_ref_.cwiseAbs().maxCoeff();
          w.value = w_ref_ + scale * z_;
        } else if (p_.weight_noise == "multiplicative") {
          w.value = (w_ref_.array() * (1.f + sw * z_.array())).matrix();
        } else {
          w.value = (w_ref_.array() * (sw * z_.array()).exp()).matrix();
        }
      }
      swapped_ = &w;
    }
    // 2. DAC with its straight-through mask (and, for a learned range, the clipped inputs' signs)
    const Matrix* in = &x;
    have_mask_x_ = quantized;
    if (quantized) {
      if (p_.input_range == "learned") {
        const double a = std::max(double(range_.value(0, 0)), 1e-6 * x_max0_);
        range_.value(0, 0) = float(a);
        if (a != dac_->x_max()) dac_.emplace(lc_.dac, a, signed_);
      }
      dac_->quantize(x, xq_);
      const float xm = float(dac_->x_max());
      const bool sgn = dac_->signed_inputs();
      mask_x_ = x.unaryExpr([xm, sgn](float v) { return (std::abs(v) <= xm && (sgn || v >= 0.f)) ? 1.f : 0.f; });
      if (p_.input_range == "learned")
        clip_sign_ = x.unaryExpr([xm](float v) { return v > xm ? 1.f : (v < -xm ? -1.f : 0.f); });
      in = &xq_;
    }
    // 3'.-5. partial_sums = "tile" with more than one row block: per-block read-out, noise, bias
    have_tiles_ = quantized && tiled_;
    if (have_tiles_) {
      have_mask_y_ = false;
      tiled_forward(layer, *in, y);
      return;
    }
    // 3. the layer's product and bias with the perturbed weights
    layer.forward(*in, y, Mode::train);
    // 4.-5. read-out and output noise on the pre-bias output
    const bool readout = quantized && lc_.mapping.readout != "ideal";
    have_mask_y_ = readout;
    if (readout || p_.sigma_out > 0) {
      auto Y = channel_view(y, layer);
      const auto b = layer.bias().row(0);
      Y.rowwise() -= b;
      if (readout) {
        mask_y_.resize(y.rows(), y.cols());
        clip_mask(Y, full_scale_, per_channel_, channel_view(mask_y_, layer));
        Stream as(seed_, "hwa.adc", {*step_, ordinal_});
        if (adc_) {
          adc_->convert(Y, as);
        } else {
          Stream ss(seed_, "hwa.sense_amp", {*step_, ordinal_});
          devices::SenseAmp sa(lc_.sense_amp, int(Y.cols()), ss);
          sa.set_scale(full_scale_);
          sa.convert(Y, as);
        }
      }
      if (p_.sigma_out > 0) output_noise(Y);
      Y.rowwise() += b;
    }
  }

  void backward(MatmulLayer& layer, const Matrix& dy, Matrix& dx) override {
    if (have_tiles_) {
      tiled_backward(layer, dy, dx);
    } else if (have_mask_y_) {
      // The read-out's STE mask applies to the product; the bias is added after it, so its gradient
      // is the unmasked dL/dy: the layer adds colsum(masked dy), the rest is added here.
      g_ = dy.cwiseProduct(mask_y_);
      layer.backward(g_, dx);
      g_ = dy - g_;
      Parameter& b = slot(layer, 1, "bias");
      b.grad.row(0) += channel_view(g_, layer).colwise().sum();
    } else {
      layer.backward(dy, dx);
    }
    if (have_mask_x_) {
      // dx is dL/dx_q here: the clipped inputs' share goes to the learned range, the rest to x.
      if (p_.input_range == "learned") range_.grad(0, 0) += (dx.array() * clip_sign_.array()).sum();
      dx.array() *= mask_x_.array();
    }
    restore(layer);
  }

  void start_calibration() {
    calibrating_ = true;
    xmax_ = 0;
    signed_ = false;
    ycal_.resize(0, 0);
    pcal_.clear();
    tiled_ = false;
  }
  void finish_calibration() {
    calibrating_ = false;
    if (ycal_.rows() == 0) throw Error("hwa: calibrate() did not reach a selected layer");
    const double xmax = xmax_ > 0 ? xmax_ : 1.0;
    x_max0_ = xmax;
    range_.value = Matrix::Constant(1, 1, float(xmax));
    range_.grad = Matrix::Zero(1, 1);
    const auto& readout = lc_.mapping.readout;
    adc_.reset();
    if (p_.io == "quantized") {
      dac_.emplace(lc_.dac, xmax, signed_);
      if (tiled_) {
        // calibrated per row block below
      } else if (readout == "adc") {
        adc_.emplace(devices::Adc::calibrated(lc_.adc, ycal_));
        full_scale_ = adc_->range();
      } else if (readout == "sense_amp") {
        devices::SenseAmpParams sp = lc_.sense_amp;
        sp.sigma_sa = 0;
        Stream unused(0, "unused");
        devices::SenseAmp sa(sp, int(ycal_.cols()), unused);
        sa.calibrate(ycal_);
        full_scale_ = sa.scale();
      }
    }
    if (p_.io != "quantized" || readout == "ideal") {
      full_scale_.assign(std::size_t(ycal_.cols()), 0.0);
      for (Eigen::Index j = 0; j < ycal_.cols(); ++j) full_scale_[std::size_t(j)] = ycal_.col(j).cwiseAbs().maxCoeff();
    }
    block_adc_.clear();
    block_scale_.clear();
    if (tiled_) {
      // One read-out per row block, calibrated on its own partial sums; the output's full scale (for
      // sigma_out) is the largest sum of converted values, sum_r s_rj.
      full_scale_.assign(std::size_t(ycal_.cols()), 0.0);
      for (const Matrix& P : pcal_) {
        if (readout == "adc") {
          block_adc_.push_back(devices::Adc::calibrated(lc_.adc, P));
          block_scale_.push_back(block_adc_.back().range());
        } else {
          devices::SenseAmpParams sp = lc_.sense_amp;
          sp.sigma_sa = 0;
          Stream unused(0, "unused");
          devices::SenseAmp sa(sp, int(P.cols()), unused);
          sa.calibrate(P);
          block_scale_.push_back(sa.scale());
        }
        for (std::size_t j = 0; j < full_scale_.size(); ++j) full_scale_[j] += block_scale_.back()[j];
      }
      pcal_.clear();
    }
    if (p_.weight_noise == "device") model_ = make_array_model(lc_, xmax);
    ycal_.resize(0, 0);
    calibrated_ = true;
  }
  /// Puts the reference weights back if a train-mode forward left them perturbed (no backward yet).
  void release(MatmulLayer& layer) { restore(layer); }
  double x_max() const {
    if (p_.input_range == "learned" && calibrated_) return std::max(double(range_.value(0, 0)), 1e-6 * x_max0_);
    return dac_ ? dac_->x_max() : xmax_;
  }
  const std::vector<double>& adc_range() const {
    if (!adc_) throw Error("hwa: no ADC ranges (hwa.io is not \"quantized\", the read-out is not an ADC, "
                           "hwa.partial_sums = \"tile\" converts per row block, or calibrate() was not called)");
    return adc_->range();
  }
  Parameter* range() { return &range_; }
  void zero_range_grad() { range_.grad.setZero(1, 1); }

 private:
  void restore(MatmulLayer&) {
    if (swapped_) {
      swapped_->value = w_ref_;
      swapped_ = nullptr;
    }
  }
  /// W~ = the effective weights of w_ref_ programmed tile by tile on the configured substrate, with
  /// the configured drift compensation (nets/analog.hpp: alpha from the reference and effective
  /// weights, per layer or per column) applied as the analog mapping applies it to the outputs.
  /// Tiles draw from their own streams, so they are programmed in parallel (the same numbers on any
  /// number of threads), each into its array of the previous step (ArrayModel::reprogram: equal to
  /// program(), without allocating); an error is rethrown for the first failing tile in order. The
  /// compensation sums then run over the tiles in order, as before.
  void program(const Stream& s, Matrix& out) {
    const Eigen::Index K = w_ref_.rows(), N = w_ref_.cols();
    const Eigen::Index tr = lc_.mapping.tile_rows, tc = lc_.mapping.tile_cols;
    const Eigen::Index grid_r = (K + tr - 1) / tr, grid_c = (N + tc - 1) / tc;
    float w_max = w_ref_.cwiseAbs().maxCoeff();
    if (!(w_max > 0)) w_max = 1.f;
    tiles_.resize(std::size_t(grid_r * grid_c));
    std::vector<std::exception_ptr> errors(tiles_.size());
#pragma omp parallel for schedule(dynamic) if (grid_r * grid_c > 1)
    for (Eigen::Index t = 0; t < grid_r * grid_c; ++t) {
      const Eigen::Index r = t / grid_c, c = t % grid_c, r0 = r * tr, c0 = c * tc;
      const Eigen::Index rk = std::min(tr, K - r0), ck = std::min(tc, N - c0);
      try {
        Stream ps = s.child("tile", {std::uint64_t(r), std::uint64_t(c)});
        auto& arr = tiles_[std::size_t(t)];
        arr = model_->reprogram(std::move(arr), w_ref_.block(r0, c0, rk, ck), w_max, ps);
        out.block(r0, c0, rk, ck) = arr->effective_weights();
      } catch (...) {
        errors[std::size_t(t)] = std::current_exception();
      }
    }
    for (const auto& e : errors)
      if (e) std::rethrow_exception(e);
    const auto& comp = lc_.mapping.drift_compensation;
    if (comp == "none") return;
    std::vector<double> ref(std::size_t(N), 0.0), eff(std::size_t(N), 0.0);
    for (Eigen::Index r0 = 0, r = 0; r0 < K; r0 += tr, ++r)
      for (Eigen::Index c0 = 0, c = 0; c0 < N; c0 += tc, ++c) {
        const Eigen::Index rk = std::min(tr, K - r0), ck = std::min(tc, N - c0);
        const Matrix wr = tiles_[std::size_t(r * grid_c + c)]->reference_weights();
        for (Eigen::Index j = 0; j < ck; ++j) {
          ref[std::size_t(c0 + j)] += wr.col(j).cwiseAbs().cast<double>().sum();
          eff[std::size_t(c0 + j)] += out.block(r0, c0 + j, rk, 1).cwiseAbs().cast<double>().sum();
        }
      }
    auto factor = [](double num, double den) { return (num > 0 && den > 0) ? num / den : 1.0; };
    if (comp == "global") {
      double a = 0, b = 0;
      for (std::size_t j = 0; j < ref.size(); ++j) a += ref[j], b += eff[j];
      out *= float(factor(a, b));
    } else {
      for (Eigen::Index j = 0; j < N; ++j) out.col(j) *= float(factor(ref[std::size_t(j)], eff[std::size_t(j)]));
    }
  }
  void record(const MatmulLayer& layer, const Matrix& x, const Matrix& y) {
    if (x.size() > 0) {
      xmax_ = std::max(xmax_, double(x.cwiseAbs().maxCoeff()));
      signed_ = signed_ || (x.array() < 0).any();
    }
    Matrix yy = y;
    auto Y = channel_view(yy, layer);
    Y.rowwise() -= layer.bias().row(0);
    const Eigen::Index r0 = ycal_.rows();
    ycal_.conservativeResize(r0 + Y.rows(), Y.cols());
    ycal_.bottomRows(Y.rows()) = Y;
    // partial_sums = "tile": each row block's clean partial sums X_r W_r, for its read-out
    const Matrix& W = layer.weight();
    const Eigen::Index K = W.rows(), tr = lc_.mapping.tile_rows;
    tiled_ = p_.partial_sums == "tile" && p_.io == "quantized" && lc_.mapping.readout != "ideal" && K > tr;
    if (!tiled_) return;
    Matrix scratch;
    const Matrix& X = layer.lower(x, scratch);
    pcal_.resize(std::size_t((K + tr - 1) / tr));
    for (Eigen::Index r = 0, k0 = 0; k0 < K; ++r, k0 += tr) {
      const Eigen::Index rk = std::min(tr, K - k0);
      Matrix& P = pcal_[std::size_t(r)];
      const Eigen::Index p0 = P.rows();
      P.conservativeResize(p0 + X.rows(), W.cols());
      P.bottomRows(X.rows()).noalias() = X.middleCols(k0, rk) * W.middleRows(k0, rk);
    }
  }
  /// Y += sigma_out f_j z (step 5), row by row with per-channel constants (see clip_mask).
  void output_noise(Eigen::Ref<Matrix> Y) {
    Stream os(seed_, "hwa.out", {*step_, ordinal_});
    z_out_.resize(Y.rows(), Y.cols());
    os.fill_normal(z_out_);
    const Eigen::Index C = Y.cols();
    per_channel_.resize(std::size_t(C));
    for (Eigen::Index j = 0; j < C; ++j) per_channel_[std::size_t(j)] = float(p_.sigma_out * full_scale_[std::size_t(j)]);
    for (Eigen::Index i = 0; i < Y.rows(); ++i) {
      float* yr = &Y(i, 0);
      const float* zr = &z_out_(i, 0);
      for (Eigen::Index j = 0; j < C; ++j) yr[j] += per_channel_[std::size_t(j)] * zr[j];
    }
  }
  /// Step 4' (file comment): Y = sum_r read_r(X_r W~_r) with X = lower(x_q), the masks m_r kept for
  /// backward, then output noise and y = raise(Y) (which adds the bias). Blocks run in parallel in
  /// waves of (threads) blocks, each with its own streams, and are summed in block order after each
  /// wave: the same numbers for any number of threads, with (threads) partial-sum buffers.
  void tiled_forward(MatmulLayer& layer, const Matrix& xq, Matrix& y) {
    conv_ = dynamic_cast<const Conv2d*>(&layer);
    if (!conv_ && !dynamic_cast<const Dense*>(&layer))
      throw Error("hwa: hwa.partial_sums = \"tile\" supports dense and conv2d layers, not '" + layer.spec().kind + "'");
    const Matrix& X = layer.lower(xq, xl_);
    xlow_ = &X;  // xq_ (Dense) or xl_ (Conv2d): both kept until backward
    const Matrix& W = layer.weight();
    const Eigen::Index K = W.rows(), N = W.cols(), tr = lc_.mapping.tile_rows;
    const std::size_t R = block_scale_.size();
    const std::size_t T = std::size_t(std::max(1, std::min(omp_get_max_threads(), int(R))));
    masks_.resize(R);
    parts_.resize(T);
    per_block_.resize(T);
    const bool adc = lc_.mapping.readout == "adc";
    const Stream as0(seed_, "hwa.adc", {*step_, ordinal_}), ss0(seed_, "hwa.sense_amp", {*step_, ordinal_});
    std::vector<std::exception_ptr> errors(T);
    for (std::size_t w0 = 0; w0 < R; w0 += T) {
      const int n = int(std::min(T, R - w0));
#pragma omp parallel for schedule(static) if (n > 1)
      for (int i = 0; i < n; ++i) {
        const std::size_t r = w0 + std::size_t(i);
        const Eigen::Index k0 = Eigen::Index(r) * tr, rk = std::min(tr, K - k0);
        try {
          Matrix& part = parts_[std::size_t(i)];
          part.noalias() = X.middleCols(k0, rk) * W.middleRows(k0, rk);
          masks_[r].resize(part.rows(), N);
          clip_mask(part, block_scale_[r], per_block_[std::size_t(i)], masks_[r]);
          Stream as = as0.child("tile", {std::uint64_t(r)});
          if (adc) {
            block_adc_[r].convert(part, as);
          } else {
            Stream ss = ss0.child("tile", {std::uint64_t(r)});
            devices::SenseAmp sa(lc_.sense_amp, int(N), ss);
            sa.set_scale(block_scale_[r]);
            sa.convert(part, as);
          }
        } catch (...) {
          errors[std::size_t(i)] = std::current_exception();
        }
      }
      for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
      for (int i = 0; i < n; ++i) {
        if (w0 + std::size_t(i) == 0) ysum_ = parts_[0];
        else ysum_ += parts_[std::size_t(i)];
      }
    }
    if (p_.sigma_out > 0) output_noise(ysum_);
    layer.raise(ysum_, y);
  }
  /// STE of step 4': dP_r = dY m_r; weight rows r += X_r^T dP_r; dX[:, rows r] = dP_r W~_r^T; dx =
  /// dX (Dense) or its im2col adjoint (Conv2d); bias += colsum(dY).
  void tiled_backward(MatmulLayer& layer, const Matrix& dy, Matrix& dx) {
    const Matrix& W = layer.weight();
    const Matrix& X = *xlow_;
    const Eigen::Index K = W.rows(), N = W.cols(), tr = lc_.mapping.tile_rows;
    const Eigen::Map<const Matrix> G(dy.data(), dy.size() / N, N);
    Parameter& wp = slot(layer, 0, "weight");
    Parameter& bp = slot(layer, 1, "bias");
    bp.grad.row(0) += G.colwise().sum();
    dxl_.resize(X.rows(), K);
    // Blocks in parallel: each writes its own rows of the weight gradient and columns of dX.
    const int R = int(masks_.size());
    gs_.resize(std::size_t(std::max(1, std::min(omp_get_max_threads(), R))));
#pragma omp parallel for schedule(static) num_threads(int(gs_.size())) if (R > 1)
    for (int r = 0; r < R; ++r) {
      const Eigen::Index k0 = Eigen::Index(r) * tr, rk = std::min(tr, K - k0);
      Matrix& g = gs_[std::size_t(omp_get_thread_num())];
      g = G.cwiseProduct(masks_[std::size_t(r)].cast<float>());
      wp.grad.middleRows(k0, rk).noalias() += X.middleCols(k0, rk).transpose() * g;
      dxl_.middleCols(k0, rk).noalias() = g * W.middleRows(k0, rk).transpose();
    }
    if (conv_) {
      dx.setZero(dy.rows(), conv_->input_shape().size());
      conv_->patches_add_grad(dxl_.data(), long(dy.rows()), 0, conv_->input_shape().c, dx.data());
    } else {
      dx.swap(dxl_);
    }
  }

  const HwaParams& p_;
  AnalogConfig lc_;
  std::uint64_t seed_, ordinal_;
  const std::uint64_t* step_;
  std::optional<devices::Dac> dac_;
  std::optional<devices::Adc> adc_;
  std::unique_ptr<devices::ArrayModel> model_;
  std::vector<std::unique_ptr<devices::ProgrammedArray>> tiles_;  // weight_noise = device: last step's, reused
  std::vector<double> full_scale_;
  Parameter range_;
  Parameter* swapped_ = nullptr;
  Matrix w_ref_, z_, xq_, mask_x_, clip_sign_, mask_y_, z_out_, g_;
  std::vector<float> per_channel_;
  bool have_mask_x_ = false, have_mask_y_ = false;
  // partial_sums = "tile" with more than one row block (tiled_, set by calibration)
  bool tiled_ = false, have_tiles_ = false;
  std::vector<Matrix> pcal_;                    // per block: calibration partial sums
  std::vector<devices::Adc> block_adc_;         // per block (readout adc)
  std::vector<std::vector<double>> block_scale_;  // per block: s_rj (ADC range or sense-amp scale)
  std::vector<devices::BitMatrix> masks_;       // per block: STE mask of the last train-mode forward
  std::vector<Matrix> parts_, gs_;              // per thread: a block's partial sums, its masked gradient
  std::vector<std::vector<float>> per_block_;   // per thread: clip_mask's per-channel constants
  const Matrix* xlow_ = nullptr;                // lowered input of the last train-mode forward
  const Conv2d* conv_ = nullptr;
  Matrix xl_, ysum_, dxl_;
  bool calibrating_ = false, calibrated_ = false, signed_ = false;
  double xmax_ = 0, x_max0_ = 1;
  Matrix ycal_;
};

HwaTraining::HwaTraining(Network& net, const HwaParams& p, const AnalogConfig& hw, std::vector<std::size_t> layers,
                         std::uint64_t seed)
    : net_(net), p_(p), layers_(std::move(layers)) {
  validate(p_, "hwa");
  hw.validate();
  const auto matmul = matmul_layers(net_);
  std::vector<AnalogConfig> cfgs;
  for (std::size_t k = 0; k < layers_.size(); ++k) {
    const std::size_t i = layers_[k];
    if (i >= net_.size()) throw Error("hwa: layer " + std::to_string(i) + " is not in the network");
    auto* m = dynamic_cast<MatmulLayer*>(&net_.layer(i));
    if (!m) throw Error("hwa: layer " + std::to_string(i) + " (" + net_.layer(i).spec().kind + ") is not Dense or Conv2d");
    if (m->product()) throw Error("hwa: layer " + std::to_string(i) + " already has a product installed");
    slot(*m, 0, "weight");
    slot(*m, 1, "bias");
    if (m->spec().has("groups") && m->spec().get("groups") != 1)
      throw Error("hwa: layer " + std::to_string(i) + ": grouped convolutions are not supported by HWA training yet");
    const auto ord = std::find(matmul.begin(), matmul.end(), i) - matmul.begin();
    cfgs.push_back(hw.for_layer(int(ord)));
    if (p_.weight_noise == "device" && cfgs.back().mapping.weight_slices != 1)
      throw Error("parameter 'mapping.weight_slices' = " + std::to_string(cfgs.back().mapping.weight_slices) +
                  ": hwa.weight_noise = \"device\" programs one device per weight (weight_slices = 1)");
  }
  for (std::size_t k = 0; k < layers_.size(); ++k) {
    auto p2 = std::make_shared<Product>(p_, cfgs[k], seed, std::uint64_t(k), &step_);
    dynamic_cast<MatmulLayer&>(net_.layer(layers_[k])).set_product(p2);
    products_.push_back(std::move(p2));
  }
}

HwaTraining::~HwaTraining() {
  for (std::size_t k = 0; k < layers_.size(); ++k) {
    auto& m = dynamic_cast<MatmulLayer&>(net_.layer(layers_[k]));
    products_[k]->release(m);
    if (m.product() == products_[k].get()) m.set_product(nullptr);
  }
}

void HwaTraining::calibrate(const Matrix& x) {
  for (auto& p : products_) p->start_calibration();
  net_.forward(x, Mode::eval);
  for (auto& p : products_) p->finish_calibration();
}

void HwaTraining::begin_step(std::uint64_t step) {
  step_ = step;
  for (auto& p : products_) p->zero_range_grad();
}

std::vector<Parameter*> HwaTraining::parameters() {
  std::vector<Parameter*> r;
  if (p_.input_range == "learned")
    for (auto& p : products_) r.push_back(p->range());
  return r;
}

void HwaTraining::end_step(std::uint64_t) {
  if (p_.clip == "none") return;
  for (std::size_t i : layers_) {
    auto& w = slot(dynamic_cast<MatmulLayer&>(net_.layer(i)), 0, "weight");
    if (!w.trainable) continue;
    float bound = float(p_.clip_value);
    if (p_.clip == "sigma") {
      const double mean = w.value.cast<double>().mean();
      const double var = (w.value.cast<double>().array() - mean).square().mean();
      bound = float(p_.clip_value * std::sqrt(var));
    }
    w.value = w.value.cwiseMax(-bound).cwiseMin(bound);
  }
}

double HwaTraining::x_max(std::size_t l) const { return products_.at(l)->x_max(); }
const std::vector<double>& HwaTraining::adc_range(std::size_t l) const { return products_.at(l)->adc_range(); }

std::vector<std::size_t> matmul_layers(const Network& net) {
  std::vector<std::size_t> r;
  for (std::size_t i = 0; i < net.size(); ++i)
    if (dynamic_cast<const MatmulLayer*>(&net.layer(i))) r.push_back(i);
  return r;
}

}  // namespace aimc::nets
