#include "nets/network.hpp"

#include <algorithm>
#include <sstream>

#include "core/error.hpp"
#include "nets/snn.hpp"

namespace aimc::nets {

std::unique_ptr<Layer> clone_layer(const Layer& l) {
  auto c = make_layer(l.spec());
  const auto& src = l.params();
  const auto& dst = c->params();
  for (std::size_t i = 0; i < src.size(); ++i) {
    dst[i]->value = src[i]->value;
    dst[i]->grad = Matrix::Zero(src[i]->value.rows(), src[i]->value.cols());
    dst[i]->trainable = src[i]->trainable;
    dst[i]->decay = src[i]->decay;
  }
  return c;
}

Network::Node Network::make_node(std::string name, std::unique_ptr<Layer> layer, std::vector<int> inputs) {
  Node n;
  n.name = std::move(name);
  n.matmul = dynamic_cast<MatmulLayer*>(layer.get());
  n.layer = std::move(layer);
  n.inputs = std::move(inputs);
  return n;
}

Network Network::clone() const {
  Network n(input_);
  std::vector<std::pair<const Parameter*, ParamPtr>> seen;  // tensor of this network -> its copy
  for (const auto& node : nodes_) {
    auto c = clone_layer(*node.layer);
    const auto& src = node.layer->params();
    for (std::size_t s = 0; s < src.size(); ++s) {
      auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& e) { return e.first == src[s].get(); });
      if (it != seen.end()) c->bind(s, it->second);
      else seen.emplace_back(src[s].get(), c->params()[s]);
    }
    n.nodes_.push_back(make_node(node.name, std::move(c), node.inputs));
  }
  return n;
}

Network Network::share() const {
  Network n(input_);
  for (const auto& node : nodes_) {
    auto c = make_layer(node.layer->spec());
    for (std::size_t s = 0; s < node.layer->params().size(); ++s) c->bind(s, node.layer->params()[s]);
    n.nodes_.push_back(make_node(node.name, std::move(c), node.inputs));
  }
  return n;
}

std::size_t Network::find(const std::string& name) const {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].name == name) return i;
  throw Error("network has no node named '" + name + "'");
}

int Network::index_of_input(const std::string& name) const {
  if (name == "input") return kInput;
  return int(find(name));
}

std::string Network::auto_name(const Layer& l) const {
  const std::string kind = l.spec().kind;
  for (std::size_t k = nodes_.size();; ++k) {
    std::string n = kind + "_" + std::to_string(k);
    if (std::none_of(nodes_.begin(), nodes_.end(), [&](const Node& x) { return x.name == n; })) return n;
  }
}

void Network::check_inputs(const Layer& l, const std::vector<int>& in, const std::string& name) const {
  if (int(in.size()) != l.arity())
    throw Error("node '" + name + "' (" + l.spec().kind + ") has " + std::to_string(in.size()) + " inputs, the layer takes " +
                std::to_string(l.arity()));
  for (std::size_t k = 0; k < in.size(); ++k) {
    const Shape got = shape_of(in[k]);
    if (!(l.input_shape(int(k)) == got))
      throw Error("layer '" + l.spec().kind + "' expects input shape " + l.input_shape(int(k)).str() + " but gets " +
                  got.str() + (in.size() > 1 ? " at input " + std::to_string(k) : std::string()));
  }
}

std::size_t Network::add(std::unique_ptr<Layer> layer) {
  insert(nodes_.size(), std::move(layer));
  return nodes_.size() - 1;
}

std::size_t Network::add(std::string name, std::unique_ptr<Layer> layer, const std::vector<std::string>& inputs) {
  require(layer != nullptr, "Network::add: null layer");
  if (name.empty()) name = auto_name(*layer);
  if (name == "input" || std::any_of(nodes_.begin(), nodes_.end(), [&](const Node& n) { return n.name == name; }))
    throw Error("network: node name '" + name + "' is taken");
  std::vector<int> in;
  for (const auto& s : inputs) in.push_back(index_of_input(s));
  check_inputs(*layer, in, name);
  nodes_.push_back(make_node(std::move(name), std::move(layer), std::move(in)));
  return nodes_.size() - 1;
}

std::size_t Network::insert_node(std::size_t index, int source, std::unique_ptr<Layer> layer, std::string name) {
  require(layer != nullptr, "Network::insert: null layer");
  require(index <= nodes_.size(), "Network::insert: index out of range");
  if (name.empty()) name = auto_name(*layer);
  if (name == "input" || std::any_of(nodes_.begin(), nodes_.end(), [&](const Node& n) { return n.name == name; }))
    throw Error("network: node name '" + name + "' is taken");
  if (layer->arity() != 1) throw Error("network: only one-input layers can be inserted into an edge");
  if (!(layer->input_shape() == shape_of(source)))
    throw Error("layer '" + layer->spec().kind + "' expects input shape " + layer->input_shape().str() + " but gets " +
                shape_of(source).str());
  // Readers of `source` at or after the new position read the new node instead.
  for (std::size_t i = index; i < nodes_.size(); ++i)
    for (std::size_t k = 0; k < nodes_[i].inputs.size(); ++k)
      if (nodes_[i].inputs[k] == source && !(layer->output_shape() == nodes_[i].layer->input_shape(int(k))))
        throw Error("layer '" + layer->spec().kind + "' output shape " + layer->output_shape().str() +
                    " does not fit the next layer's input " + nodes_[i].layer->input_shape(int(k)).str());
  for (std::size_t i = index; i < nodes_.size(); ++i)
    for (int& in : nodes_[i].inputs) {
      if (in == source) in = int(index);
      else if (in >= int(index)) ++in;
    }
  nodes_.insert(nodes_.begin() + long(index), make_node(std::move(name), std::move(layer), {source}));
  for (auto& h : hooks_)
    if (h.node >= index) ++h.node;
  return index;
}

void Network::insert(std::size_t index, std::unique_ptr<Layer> layer) {
  require(index <= nodes_.size(), "Network::insert: index out of range");
  insert_node(index, index == 0 ? kInput : int(index) - 1, std::move(layer), "");
}

std::size_t Network::insert_after(const std::string& node, std::unique_ptr<Layer> layer, std::string name) {
  const std::size_t i = find(node);
  return insert_node(i + 1, int(i), std::move(layer), std::move(name));
}

bool Network::is_chain() const {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].inputs.size() != 1 || nodes_[i].inputs[0] != int(i) - 1) return false;
  return true;
}

bool Network::is_cut(std::size_t cut) const {
  if (cut > nodes_.size()) return false;
  for (std::size_t i = cut; i < nodes_.size(); ++i)
    for (int in : nodes_[i].inputs)
      if (in < int(cut) - 1) return false;
  return true;
}

int Network::add_hook(std::size_t node, Hook hook) {
  require(node < nodes_.size(), "Network::add_hook: no node " + std::to_string(node));
  hooks_.push_back({next_hook_, node, std::move(hook)});
  return next_hook_++;
}

void Network::remove_hook(int id) {
  hooks_.erase(std::remove_if(hooks_.begin(), hooks_.end(), [&](const HookEntry& h) { return h.id == id; }),
               hooks_.end());
}

Matrix Network::forward_range(const Matrix& x, std::size_t begin, std::size_t end, Mode mode) {
  require(begin <= end && end <= nodes_.size(), "Network::forward_range: bad range");
  const int cut = int(begin) - 1;  // the node whose output x is (kInput for 0)
  Shape in = shape_of(cut);
  if (x.cols() != in.size())
    throw Error("input has " + std::to_string(x.cols()) + " features per sample, layer " + std::to_string(begin) +
                " expects " + std::to_string(in.size()) + " " + in.str());
  if (begin == end) return x;
  std::vector<const Matrix*> xs;
  for (std::size_t i = begin; i < end; ++i) {
    Node& n = nodes_[i];
    xs.clear();
    for (int k : n.inputs) {
      if (k == cut) xs.push_back(&x);
      else if (k > cut) xs.push_back(&nodes_[std::size_t(k)].out);
      else
        throw Error("Network::forward_range: node '" + n.name + "' reads node " + std::to_string(k) +
                    ", before the cut at " + std::to_string(begin));
    }
    if (n.matmul && n.matmul->product()) n.matmul->product()->forward(*n.matmul, *xs[0], n.out, mode);
    else if (xs.size() == 1) n.layer->forward(*xs[0], n.out, mode);
    else n.layer->forward_multi(xs, n.out, mode);
    for (auto& h : hooks_)
      if (h.node == i) h.fn(i, n.out);
  }
  return nodes_[end - 1].out;
}

void Network::backward(const Matrix& dlogits) {
  if (nodes_.empty()) return;
  const std::size_t n = nodes_.size();
  std::vector<char>& has = reached_;  // node's gradient set in this pass
  has.assign(n, 0);
  nodes_[n - 1].grad = dlogits;
  has[n - 1] = 1;
  std::vector<Matrix*> dxs;
  std::vector<Matrix> extra;  // gradients for inputs already holding one (fan-out), added afterwards
  for (std::size_t i = n; i-- > 0;) {
    if (!has[i]) continue;  // no path to the output
    Node& node = nodes_[i];
    dxs.clear();
    std::size_t n_extra = 0;
    for (std::size_t k = 0; k < node.inputs.size(); ++k) {
      const int j = node.inputs[k];
      const bool repeated = std::find(node.inputs.begin(), node.inputs.begin() + long(k), j) != node.inputs.begin() + long(k);
      if (j == kInput) dxs.push_back(&discard_);
      else if (!has[std::size_t(j)] && !repeated) dxs.push_back(&nodes_[std::size_t(j)].grad);
      else {
        if (extra.size() <= n_extra) extra.emplace_back();
        dxs.push_back(&extra[n_extra++]);
      }
    }
    if (node.matmul && node.matmul->product()) node.matmul->product()->backward(*node.matmul, node.grad, *dxs[0]);
    else if (dxs.size() == 1) node.layer->backward(node.grad, *dxs[0]);
    else node.layer->backward_multi(node.grad, dxs);
    for (std::size_t k = 0; k < node.inputs.size(); ++k) {
      const int j = node.inputs[k];
      if (j == kInput) continue;
      if (dxs[k] != &nodes_[std::size_t(j)].grad) nodes_[std::size_t(j)].grad += *dxs[k];
      has[std::size_t(j)] = 1;
    }
  }
}

const Matrix& Network::output_grad(std::size_t i) const {
  static const Matrix none;
  require(i < nodes_.size(), "Network::output_grad: no node " + std::to_string(i));
  return i < reached_.size() && reached_[i] ? nodes_[i].grad : none;
}

std::vector<ParamPtr> Network::parameter_store() const {
  std::vector<ParamPtr> p;
  for (const auto& node : nodes_)
    for (const auto& q : node.layer->params())
      if (std::find(p.begin(), p.end(), q) == p.end()) p.push_back(q);
  return p;
}

std::vector<Parameter*> Network::parameters() {
  std::vector<Parameter*> p;
  for (const auto& q : parameter_store()) p.push_back(q.get());
  return p;
}

void Network::zero_grad() {
  for (auto* p : parameters()) p->grad.setZero(p->value.rows(), p->value.cols());
}

void Network::init(Stream& stream) {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    Stream s = stream.child("layer", {i});
    nodes_[i].layer->init(s);
  }
  zero_grad();
}

long long Network::macs() const {
  long long m = 0;
  for (const auto& n : nodes_) m += n.layer->macs();
  return m;
}

std::string Network::summary() const {
  std::ostringstream os;
  os << "input " << input_.str() << "\n";
  const bool chain = is_chain();
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    os << "  " << i << ": " << nodes_[i].layer->spec().str();
    if (!chain) {
      os << " <- ";
      for (std::size_t k = 0; k < nodes_[i].inputs.size(); ++k)
        os << (k ? ", " : "") << (nodes_[i].inputs[k] == kInput ? std::string("input") : nodes_[std::size_t(nodes_[i].inputs[k])].name);
      os << " (" << nodes_[i].name << ")";
    }
    os << " -> " << nodes_[i].layer->output_shape().str() << "\n";
  }
  return os.str();
}

namespace {
LayerSpec spec(std::string kind, std::vector<std::pair<std::string, AttrValue>> args) { return {std::move(kind), std::move(args)}; }
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

Network make_resnet(int depth, Shape input, int classes) {
  if (depth < 8 || depth > 6 * 1000 + 2 || (depth - 2) % 6 != 0)
    throw Error("make_resnet: depth " + std::to_string(depth) + " is not 6 n + 2 with 1 <= n <= 1000 (8, 14, 20, 32, ...)");
  if (classes < 1) throw Error("make_resnet: " + std::to_string(classes) + " classes");
  const int n = (depth - 2) / 6;
  Network net(input);
  auto conv = [&](const std::string& name, const std::string& from, Shape in, int out_c, int k, int stride) {
    net.add(name,
            make_layer(spec("conv2d", {{"in_c", in.c}, {"in_h", in.h}, {"in_w", in.w}, {"out_c", out_c}, {"kernel", k},
                                       {"stride", stride}, {"pad", k / 2}})),
            {from});
    return net.layer(net.size() - 1).output_shape();
  };
  auto unary = [&](const std::string& kind, const std::string& name, const std::string& from, Shape s) {
    net.add(name, make_layer(spec(kind, {{"c", s.c}, {"h", s.h}, {"w", s.w}})), {from});
  };
  Shape shape = conv("stem.conv", "input", input, 16, 3, 1);
  unary("batchnorm", "stem.bn", "stem.conv", shape);
  unary("relu", "stem.relu", "stem.bn", shape);
  std::string last = "stem.relu";
  const int widths[3] = {16, 32, 64};
  for (int stage = 0; stage < 3; ++stage)
    for (int block = 0; block < n; ++block) {
      const std::string p = "stage" + std::to_string(stage + 1) + ".block" + std::to_string(block) + ".";
      const int stride = stage > 0 && block == 0 ? 2 : 1;
      const Shape in = shape;
      shape = conv(p + "conv1", last, in, widths[stage], 3, stride);
      unary("batchnorm", p + "bn1", p + "conv1", shape);
      unary("relu", p + "relu1", p + "bn1", shape);
      conv(p + "conv2", p + "relu1", shape, widths[stage], 3, 1);
      unary("batchnorm", p + "bn2", p + "conv2", shape);
      std::string shortcut = last;
      if (stride != 1 || in.c != widths[stage]) {
        conv(p + "shortcut.conv", last, in, widths[stage], 1, stride);
        unary("batchnorm", p + "shortcut.bn", p + "shortcut.conv", shape);
        shortcut = p + "shortcut.bn";
      }
      net.add(p + "add", make_layer(spec("add", {{"c", shape.c}, {"h", shape.h}, {"w", shape.w}, {"n", 2}})),
              {p + "bn2", shortcut});
      unary("relu", p + "relu", p + "add", shape);
      last = p + "relu";
    }
  unary("globalavgpool", "pool", last, shape);
  net.add("fc", make_layer(spec("dense", {{"in", shape.c}, {"out", classes}})), {"pool"});
  return net;
}

Network make_resnet(int depth) { return make_resnet(depth, Shape{1, 28, 28}, 10); }

Network make_reference(const std::string& name) {
  if (name == "mlp") return make_mlp();
  if (name == "cnn") return make_cnn();
  if (name == "resnet8") return make_resnet(8);
  if (name == "resnet20") return make_resnet(20);
  if (name == "snn_cnn") return make_snn_cnn();
  if (name == "snn_mlp") return make_snn_mlp();
  throw Error("unknown reference model '" + name + "' (expected mlp, cnn, resnet8, resnet20, snn_cnn or snn_mlp)");
}

}  // namespace aimc::nets
