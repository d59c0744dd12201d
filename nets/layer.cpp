#include "nets/layer.hpp"

#include <algorithm>
#include <climits>
#include <sstream>

#include "core/error.hpp"
#include "nets/activation.hpp"
#include "nets/batchnorm.hpp"
#include "nets/compensation.hpp"
#include "nets/basisn.hpp"
#include "nets/denoise.hpp"
#include "nets/conv2d.hpp"
#include "nets/dense.hpp"
#include "nets/layer_args.hpp"
#include "nets/merge.hpp"
#include "nets/normalize.hpp"
#include "nets/pool.hpp"
#include "nets/snn.hpp"

namespace aimc::nets {

namespace {
const AttrValue& find_attr(const LayerSpec& s, const std::string& key) {
  for (const auto& [k, v] : s.args)
    if (k == key) return v;
  throw Error("layer '" + s.kind + "': missing argument '" + key + "'");
}
[[noreturn]] void wrong_type(const LayerSpec& s, const std::string& key, const char* expected) {
  throw Error("layer '" + s.kind + "': argument '" + key + "' is not " + expected);
}
}  // namespace

long long LayerSpec::get(const std::string& key) const {
  const auto& v = find_attr(*this, key);
  if (const auto* i = std::get_if<long long>(&v)) return *i;
  wrong_type(*this, key, "an integer");
}

double LayerSpec::get_float(const std::string& key) const {
  const auto& v = find_attr(*this, key);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<long long>(&v)) return double(*i);
  wrong_type(*this, key, "a number");
}

const std::string& LayerSpec::get_string(const std::string& key) const {
  const auto& v = find_attr(*this, key);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  wrong_type(*this, key, "a string");
}

std::vector<long long> LayerSpec::get_ints(const std::string& key) const {
  const auto& v = find_attr(*this, key);
  if (const auto* l = std::get_if<std::vector<long long>>(&v)) return *l;
  wrong_type(*this, key, "a list of integers");
}

std::vector<double> LayerSpec::get_floats(const std::string& key) const {
  const auto& v = find_attr(*this, key);
  if (const auto* d = std::get_if<std::vector<double>>(&v)) return *d;
  if (const auto* l = std::get_if<std::vector<long long>>(&v)) return std::vector<double>(l->begin(), l->end());
  wrong_type(*this, key, "a list of numbers");
}

bool LayerSpec::has(const std::string& key) const {
  return std::any_of(args.begin(), args.end(), [&](const auto& a) { return a.first == key; });
}

std::string LayerSpec::str() const {
  std::ostringstream os;
  os << kind;
  for (const auto& [k, v] : args) {
    os << " " << k << "=";
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::vector<long long>> || std::is_same_v<T, std::vector<double>>) {
            os << "[";
            for (std::size_t i = 0; i < x.size(); ++i) os << (i ? "," : "") << x[i];
            os << "]";
          } else {
            os << x;
          }
        },
        v);
  }
  return os.str();
}

void Product::backward(MatmulLayer& layer, const Matrix&, Matrix&) {
  throw Error("layer '" + layer.spec().kind + "': its product has no backward pass (inference only)");
}

std::vector<Parameter*> Layer::parameters() {
  std::vector<Parameter*> p;
  p.reserve(params_.size());
  for (auto& q : params_) p.push_back(q.get());
  return p;
}

void Layer::bind(std::size_t slot, ParamPtr p) {
  require(slot < params_.size(), "Layer::bind: no parameter slot " + std::to_string(slot));
  require(p != nullptr, "Layer::bind: null parameter");
  const Parameter& cur = *params_[slot];
  if (p->value.rows() != cur.value.rows() || p->value.cols() != cur.value.cols())
    throw Error("layer '" + spec().kind + "': parameter '" + cur.name + "' is " + std::to_string(cur.value.rows()) + "x" +
                std::to_string(cur.value.cols()) + ", cannot bind a " + std::to_string(p->value.rows()) + "x" +
                std::to_string(p->value.cols()) + " tensor");
  params_[slot] = std::move(p);
}

Parameter& Layer::add_param(std::string name, Eigen::Index rows, Eigen::Index cols, bool decay) {
  auto p = std::make_shared<Parameter>();
  p->name = std::move(name);
  p->value = Matrix::Zero(rows, cols);
  p->grad = Matrix::Zero(rows, cols);
  p->decay = decay;
  params_.push_back(p);
  return *params_.back();
}

namespace detail {

Args::Args(const LayerSpec& s, std::initializer_list<const char*> expected) : spec(s) {
  for (const char* k : expected) keys.emplace_back(k);
  for (std::size_t i = 0; i < s.args.size(); ++i) {
    const std::string& k = s.args[i].first;
    if (std::find(keys.begin(), keys.end(), k) == keys.end())
      throw Error("layer '" + s.kind + "': unexpected argument '" + k + "' (expected " + list() + ")");
    for (std::size_t j = 0; j < i; ++j)
      if (s.args[j].first == k) throw Error("layer '" + s.kind + "': argument '" + k + "' given twice");
  }
}

std::string Args::list() const {
  std::string s;
  for (const auto& k : keys) s += (s.empty() ? "" : ", ") + k;
  return s;
}

int Args::operator()(const std::string& key) const { return fit_int(key, spec.get(key)); }

int Args::opt(const std::string& key, int fallback) const { return spec.has(key) ? (*this)(key) : fallback; }

double Args::real(const std::string& key, double fallback) const {
  return spec.has(key) ? spec.get_float(key) : fallback;
}

std::vector<int> Args::ints(const std::string& key, std::size_t n, std::vector<int> fallback) const {
  if (!spec.has(key)) return fallback;
  auto v = spec.get_ints(key);
  if (v.size() != n)
    throw Error("layer '" + spec.kind + "': argument '" + key + "' has " + std::to_string(v.size()) + " values, expected " +
                std::to_string(n));
  std::vector<int> out;
  for (auto x : v) out.push_back(fit_int(key, x));
  return out;
}

int Args::fit_int(const std::string& key, long long v) const {
  if (v < INT_MIN || v > INT_MAX)
    throw Error("layer '" + spec.kind + "': argument '" + key + "' = " + std::to_string(v) + " does not fit an int");
  return int(v);
}

}  // namespace detail

std::unique_ptr<Layer> make_layer(const LayerSpec& spec) {
  for (const auto& k : layer_kinds())
    if (spec.kind == k.name) return k.make(spec);
  std::string names;
  for (const auto& k : layer_kinds()) names += (names.empty() ? "" : ", ") + std::string(k.name);
  throw Error("unknown layer kind '" + spec.kind + "' (expected one of " + names + ")");
}

std::span<const LayerKind> layer_kinds() {
  static const LayerKind table[] = {
      {"dense", "fully connected y = x W + b", &Dense::make},
      {"conv2d", "2-D convolution (im2col + GEMM), groups, stride, dilation, asymmetric zero padding", &Conv2d::make},
      {"maxpool2d", "max pooling, asymmetric padding that never wins", &MaxPool2d::make},
      {"avgpool2d", "average pooling, asymmetric padding counted or not", &AvgPool2d::make},
      {"relu", "max(x, 0)", &ReLU::make},
      {"flatten", "image to feature vector (a view: HWC order kept)", &Flatten::make},
      {"add", "elementwise sum of several inputs of one shape (residual connections)", &Add::make},
      {"concat", "concatenation of several inputs along channels", &Concat::make},
      {"batchnorm", "batch normalization per channel (batch statistics in training, running ones in eval)",
       &BatchNorm::make},
      {"globalavgpool", "mean of each channel over all positions", &GlobalAvgPool::make},
      {"clip", "min(max(x, min), max) (ReLU6: 0..6)", &Clip::make},
      {"normalize", "fixed per-channel (x - mean) / std (an imported model's input normalization)", &Normalize::make},
      {"compensation", "residual y = x + C(x), C a zero-initialized per-position (1x1) linear map, full or low rank (CorrectNet)",
       &Compensation::make},
      {"denoise", "residual bottleneck y = x + D(x) or x - mu(x), last map zero-initialized (denoising block, Azizi et al. 2024)",
       &Denoise::make},
      {"basis_product", "BasisN crossbar half: the inputs of each channel-group segment times the shared basis (L x M)",
       &BasisProduct::make},
      {"basis_combine", "BasisN digital half: basis responses combined with per-layer coefficients (uniform or power-of-two)",
       &BasisCombine::make},
      {"snn_encode", "spiking input: B samples become B T rows (time steps), direct current or Bernoulli rate spikes",
       &SnnEncode::make},
      {"lif", "leaky integrate-and-fire neurons over T time steps (soft or hard reset, fast-sigmoid surrogate gradient)",
       &Lif::make},
      {"snn_readout", "spiking output: the mean over the T time steps of each sample (membrane or spike count / T)",
       &SnnReadout::make},
  };
  return table;
}

}  // namespace aimc::nets
