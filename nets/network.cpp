#include "nets/network.hpp"

#include <algorithm>
#include <sstream>

#include "core/error.hpp"

namespace aimc::nets {

std::unique_ptr<Layer> clone_layer(const Layer& l) {
  auto c = make_layer(l.spec());
  auto src = const_cast<Layer&>(l).parameters();
  auto dst = c->parameters();
  for (std::size_t i = 0; i < src.size(); ++i) {
    dst[i]->value = src[i]->value;
    dst[i]->grad = Matrix::Zero(src[i]->value.rows(), src[i]->value.cols());
  }
  return c;
}

Network Network::clone() const {
  Network n(input_);
  for (const auto& l : layers_) n.layers_.push_back(clone_layer(*l));
  return n;
}

void Network::add(std::unique_ptr<Layer> layer) { insert(layers_.size(), std::move(layer)); }

void Network::insert(std::size_t index, std::unique_ptr<Layer> layer) {
  require(index <= layers_.size(), "Network::insert: index out of range");
  Shape before = index == 0 ? input_ : layers_[index - 1]->output_shape();
  if (!(layer->input_shape() == before))
    throw Error("layer '" + layer->spec().kind + "' expects input shape " + layer->input_shape().str() + " but gets " +
                before.str());
  if (index < layers_.size() && !(layer->output_shape() == layers_[index]->input_shape()))
    throw Error("layer '" + layer->spec().kind + "' output shape " + layer->output_shape().str() +
                " does not fit the next layer's input " + layers_[index]->input_shape().str());
  layers_.insert(layers_.begin() + static_cast<long>(index), std::move(layer));
  for (auto& h : hooks_)
    if (h.layer >= index) ++h.layer;
}

int Network::add_hook(std::size_t layer, Hook hook) {
  require(layer < layers_.size(), "Network::add_hook: no layer " + std::to_string(layer));
  hooks_.push_back({next_hook_, layer, std::move(hook)});
  return next_hook_++;
}

void Network::remove_hook(int id) {
  hooks_.erase(std::remove_if(hooks_.begin(), hooks_.end(), [&](const HookEntry& h) { return h.id == id; }),
               hooks_.end());
}

Matrix Network::forward_range(const Matrix& x, std::size_t begin, std::size_t end, Mode mode) {
  require(begin <= end && end <= layers_.size(), "Network::forward_range: bad range");
  Shape in = begin == 0 ? input_ : layers_[begin - 1]->output_shape();
  if (x.cols() != in.size())
    throw Error("input has " + std::to_string(x.cols()) + " features per sample, layer " + std::to_string(begin) +
                " expects " + std::to_string(in.size()) + " " + in.str());
  Matrix a = x, b;
  for (std::size_t i = begin; i < end; ++i) {
    layers_[i]->forward(a, b, mode);
    for (auto& h : hooks_)
      if (h.layer == i) h.fn(i, b);
    std::swap(a, b);
  }
  return a;
}

void Network::backward(const Matrix& dlogits) {
  Matrix d = dlogits, dx;
  for (std::size_t i = layers_.size(); i-- > 0;) {
    layers_[i]->backward(d, dx);
    std::swap(d, dx);
  }
}

std::vector<Parameter*> Network::parameters() {
  std::vector<Parameter*> p;
  for (auto& l : layers_)
    for (auto* q : l->parameters()) p.push_back(q);
  return p;
}

void Network::zero_grad() {
  for (auto* p : parameters()) p->grad.setZero(p->value.rows(), p->value.cols());
}

void Network::init(Stream& stream) {
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    Stream s = stream.child("layer", {i});
    layers_[i]->init(s);
  }
  zero_grad();
}

long long Network::macs() const {
  long long m = 0;
  for (const auto& l : layers_) m += l->macs();
  return m;
}

std::string Network::summary() const {
  std::ostringstream os;
  os << "input " << input_.str() << "\n";
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    auto s = layers_[i]->spec();
    os << "  " << i << ": " << s.kind;
    for (auto& [k, v] : s.args) os << " " << k << "=" << v;
    os << " -> " << layers_[i]->output_shape().str() << "\n";
  }
  return os.str();
}

namespace {
LayerSpec spec(std::string kind, std::vector<std::pair<std::string, long long>> args) { return {std::move(kind), std::move(args)}; }
}  // namespace

Network make_mlp() {
  Network n(Shape{1, 28, 28});
  n.add(make_layer(spec("flatten", {{"c", 1}, {"h", 28}, {"w", 28}})));
  n.add(make_layer(spec("dense", {{"in", 784}, {"out", 256}})));
  n.add(make_layer(spec("relu", {{"c", 256}, {"h", 1}, {"w", 1}})));
  n.add(make_layer(spec("dense", {{"in", 256}, {"out", 128}})));
  n.add(make_layer(spec("relu", {{"c", 128}, {"h", 1}, {"w", 1}})));
  n.add(make_layer(spec("dense", {{"in", 128}, {"out", 10}})));
  return n;
}

Network make_cnn() {
  Network n(Shape{1, 28, 28});
  auto conv = [](int c, int h, int oc) {
    return make_layer(spec("conv2d", {{"in_c", c}, {"in_h", h}, {"in_w", h}, {"out_c", oc}, {"kernel", 3}, {"stride", 1}, {"pad", 1}}));
  };
  n.add(conv(1, 28, 32));
  n.add(make_layer(spec("relu", {{"c", 32}, {"h", 28}, {"w", 28}})));
  n.add(make_layer(spec("maxpool2d", {{"in_c", 32}, {"in_h", 28}, {"in_w", 28}, {"kernel", 2}, {"stride", 2}})));
  n.add(conv(32, 14, 64));
  n.add(make_layer(spec("relu", {{"c", 64}, {"h", 14}, {"w", 14}})));
  n.add(make_layer(spec("maxpool2d", {{"in_c", 64}, {"in_h", 14}, {"in_w", 14}, {"kernel", 2}, {"stride", 2}})));
  n.add(make_layer(spec("flatten", {{"c", 64}, {"h", 7}, {"w", 7}})));
  n.add(make_layer(spec("dense", {{"in", 3136}, {"out", 128}})));
  n.add(make_layer(spec("relu", {{"c", 128}, {"h", 1}, {"w", 1}})));
  n.add(make_layer(spec("dense", {{"in", 128}, {"out", 10}})));
  return n;
}

Network make_reference(const std::string& name) {
  if (name == "mlp") return make_mlp();
  if (name == "cnn") return make_cnn();
  throw Error("unknown reference model '" + name + "' (expected mlp or cnn)");
}

}  // namespace aimc::nets
