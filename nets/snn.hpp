#pragma once
/// Spiking layers: a network that runs T time steps of a spiking neural network (SNN) as one ordinary
/// pass of the graph engine, with backpropagation through time (BPTT) from the ordinary backward pass.
///
/// Time is folded into the batch. `snn_encode` turns a batch of B samples into B T rows, row b T + t
/// holding sample b at time step t (sample-major, so a sample's steps are contiguous). Stateless layers
/// (Dense, Conv2d, pooling, flatten; their analog products) treat every row as its own input, which is
/// what they do to each time step of an SNN. `lif` is the only layer with state over time: it runs the
/// membrane recurrence over the T rows of each sample, forward and backward, so the ordinary backward
/// pass is exact BPTT. `snn_readout` turns B T rows back into B (the mean over time steps), so the
/// network's output, loss and accuracy are per sample as for any other network.
///
/// Leaky integrate-and-fire neuron (`lif`), per feature i of sample b, input current I_t, U_{-1} = 0:
///   V_t = beta U_{t-1} + I_t                    (membrane before the spike; leak beta in [0, 1])
///   S_t = H(V_t - theta)                        (spike; H(0) = 0: a spike needs V > theta)
///   U_t = V_t - theta S_t      (reset = soft, "reset by subtraction")
///   U_t = V_t (1 - S_t)        (reset = hard, "reset to zero")
/// Output S_t. Rate-coding limit (stated, tested): with beta = 1, soft reset, theta > 0 and a constant
/// input 0 < I <= theta, the membrane before the spike at step t is (t + 1) I - theta n (n spikes so far),
/// so the spike count over T steps is n_T = ceil(T I / theta) - 1 (exactly; float rounding aside), and
/// theta n_T / T lies in [I - theta / T, I): the rate network's clipped ReLU min(max(I, 0), theta) to
/// within theta / T.
///
/// Surrogate gradient (Neftci, Mostafa, Zenke, IEEE SPM 2019): backward replaces dS/dV = delta(V - theta)
/// by the fast sigmoid of SuperSpike (Zenke & Ganguli, Neural Comput. 2018), slope k:
///   g(x) = 1 / (1 + k |x|)^2,  x = V - theta
/// the exact derivative of the smoothed neuron s_k(x) = 1/2 + x / (1 + k |x|) (which tends to H(x) - the
/// constant aside - as k grows; snnTorch's default slope is k = 25). With smooth = 1 the forward uses
/// s_k instead of H, so that the backward pass is the exact gradient of the forward (a finite-difference
/// check of the whole BPTT algebra; not for use). Backward over t = T-1 .. 0 with dL/dU_T = 0:
///   dV_t     = dL/dS_t g_t + dL/dU_t dU_t/dV_t
///              soft: dU/dV = 1 - theta g_t;   hard: dU/dV = (1 - S_t) - V_t g_t
///   dL/dI_t  = dV_t;   dL/dU_{t-1} = beta dV_t;   dL/dbeta += dV_t U_{t-1}
///   dL/dtheta += -dL/dS_t g_t + dL/dU_t dU_t/dtheta,  soft: -S_t + theta g_t;  hard: V_t g_t
/// The reset is not detached (the gradient is the smoothed neuron's exact one). beta and theta are 1 x 1
/// parameters of the layer ("beta", "threshold"), trainable with learn = 1 (then beta is clipped to
/// [0, 1] and theta to >= 1e-3 at every forward), else frozen at their spec values.
///
/// Encoding (`snn_encode`): direct: every step gets the sample itself (an analog input current, as in
/// Rathi & Roy's direct encoding); rate: the step gets Bernoulli spikes with p = clamp(x, 0, 1), drawn
/// from Stream(seed, "snn.rate", {h, t}) (one uniform per feature, in feature order), h the 64-bit FNV-1a
/// hash of the sample's feature values (their float bits), so a sample gets the same spike trains in any batch, chunk or thread; the gradient of
/// rate encoding passes straight through (d spike / d p = 1, E[spike] = p).
/// Read-out (`snn_readout`): y_b = (1/T) sum_t x_{b T + t}: after a Dense layer the accumulated
/// membrane of a non-leaking, non-firing output neuron over T; after a `lif` the spike count / T.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nets/network.hpp"

namespace aimc::nets {

/// Spec kind "snn_encode", args c, h, w, steps (1..4096), mode ("direct" | "rate"), seed (rate only).
class SnnEncode final : public Layer {
 public:
  SnnEncode(Shape shape, int steps, std::string mode, std::uint64_t seed = 0);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return shape_; }
  Shape output_shape() const override { return shape_; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  int steps() const { return steps_; }
  const std::string& mode() const { return mode_; }

 private:
  Shape shape_;
  int steps_;
  std::string mode_;
  std::uint64_t seed_;
  long rows_ = 0;
  bool have_cache_ = false;
};

/// Spec kind "lif", args c, h, w, steps, beta (default 0.9), threshold (1.0), reset ("soft" | "hard"),
/// slope (k, default 25), learn (0 | 1), smooth (0 | 1; see the file comment).
class Lif final : public Layer {
 public:
  struct Options {
    double beta = 0.9, threshold = 1.0, slope = 25.0;
    std::string reset = "soft";
    bool learn = false, smooth = false;
  };
  Lif(Shape shape, int steps, Options o);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return shape_; }
  Shape output_shape() const override { return shape_; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  /// Resets beta and threshold to the spec's values.
  void init(Stream&) override;
  int steps() const { return steps_; }
  double beta() const;
  double threshold() const;
  /// Fraction of outputs that spiked in the last forward (S > 0.5), for activity statistics.
  double last_spike_rate() const { return spike_rate_; }

 private:
  Shape shape_;
  int steps_;
  Options o_;
  Matrix v_, s_;  // V_t and S_t of the last train-mode forward (rows as x)
  long rows_ = 0;
  bool have_cache_ = false;
  double spike_rate_ = 0;
};

/// Spec kind "snn_readout", args c, h, w, steps: the mean over the steps of each sample.
class SnnReadout final : public Layer {
 public:
  SnnReadout(Shape shape, int steps);
  static std::unique_ptr<Layer> make(const LayerSpec& spec);
  LayerSpec spec() const override;
  Shape input_shape() const override { return shape_; }
  Shape output_shape() const override { return shape_; }
  void forward(const Matrix& x, Matrix& y, Mode mode) override;
  void backward(const Matrix& dy, Matrix& dx) override;
  int steps() const { return steps_; }

 private:
  Shape shape_;
  int steps_;
  long rows_ = 0;
  bool have_cache_ = false;
};

/// Time steps of a spiking network (the steps of its snn_encode), 0 for a network without one.
int snn_steps(const Network& net);

/// The reference convolutional SNN on (1, 28, 28) inputs, 10 classes, T = steps, direct encoding:
///   encode, conv3x3(1->16, pad 1) lif maxpool2, conv3x3(16->32, pad 1) lif maxpool2, flatten,
///   dense(1568->128) lif, dense(128->10), readout (mean membrane).
/// Max pooling of spikes is their OR, so every layer but the first reads binary spikes (1-bit inputs).
/// lif: beta 0.9, threshold 1, soft reset, slope 25 (snnTorch's defaults; Eshraghian et al., Proc.
/// IEEE 2023).
Network make_snn_cnn(int steps = 4);
/// The same on a 784-128-10 multilayer perceptron (encode, dense lif, dense, readout): tests.
Network make_snn_mlp(int steps = 4);

}  // namespace aimc::nets
