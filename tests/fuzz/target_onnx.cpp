// ONNX target: nets::import_onnx on models built here with ONNX's own protobuf classes (one per group of
// operators the importer supports), mutated field by field through the same classes, so the damage
// reaches the importer rather than protobuf's parser; 25 % of the inputs get byte-level mutations of
// the serialized model on top.
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "nets/onnx_import.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace aimc::fuzz {
namespace {

/// Builds a small ONNX model; weights are a fixed pattern (sin), so every seed is the same every run.
struct Builder {
  onnx::ModelProto m;
  onnx::GraphProto* g;
  int values = 0;

  explicit Builder(int opset) {
    m.set_ir_version(7);
    m.set_producer_name("aimc_fuzz");
    auto* o = m.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    g = m.mutable_graph();
    g->set_name("fuzz");
  }
  static void shape(onnx::ValueInfoProto* v, const std::vector<long long>& dims) {
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto_DataType_FLOAT);
    for (long long d : dims) {
      auto* dim = t->mutable_shape()->add_dim();
      if (d < 0)
        dim->set_dim_param("N");
      else
        dim->set_dim_value(d);
    }
  }
  void input(const std::string& name, const std::vector<long long>& dims) {
    auto* v = g->add_input();
    v->set_name(name);
    shape(v, dims);
  }
  void output(const std::string& name, const std::vector<long long>& dims) {
    auto* v = g->add_output();
    v->set_name(name);
    shape(v, dims);
  }
  void weight(const std::string& name, const std::vector<long long>& dims, bool raw = true) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto_DataType_FLOAT);
    long long n = 1;
    for (long long d : dims) {
      t->add_dims(d);
      n *= d;
    }
    std::vector<float> v(static_cast<std::size_t>(n));
    for (long long i = 0; i < n; ++i) v[std::size_t(i)] = float(0.5 * std::sin(double(++values)));
    if (raw)
      t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    else
      for (float x : v) t->add_float_data(x);
  }
  void ints(const std::string& name, const std::vector<long long>& v, bool scalar = false) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto_DataType_INT64);
    if (!scalar) t->add_dims((long long)v.size());
    for (long long x : v) t->add_int64_data(x);
  }
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& in, const std::string& out) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(out + "_node");
    for (const auto& s : in) n->add_input(s);
    n->add_output(out);
    return n;
  }
  static void attr(onnx::NodeProto* n, const std::string& name, long long v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, const std::vector<long long>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INTS);
    for (long long x : v) a->add_ints(x);
  }
  static void attr_f(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_FLOAT);
    a->set_f(v);
  }
  /// A Constant node holding a float scalar.
  void scalar(const std::string& out, float v) {
    auto* n = node("Constant", {}, out);
    auto* a = n->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto_AttributeType_TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto_DataType_FLOAT);
    a->mutable_t()->add_float_data(v);
  }
};

std::vector<onnx::ModelProto> make_seeds() {
  std::vector<onnx::ModelProto> seeds;
  {  // MLP: Gemm, Relu, Dropout, MatMul + Add
    Builder b(13);
    b.input("x", {-1, 8});
    b.weight("W1", {6, 8});
    b.weight("B1", {6}, false);
    b.weight("W2", {6, 4});
    b.weight("B2", {4});
    Builder::attr(b.node("Gemm", {"x", "W1", "B1"}, "h"), "transB", 1LL);
    b.node("Relu", {"h"}, "r");
    b.node("Dropout", {"r"}, "d");
    b.node("MatMul", {"d", "W2"}, "m");
    b.node("Add", {"m", "B2"}, "y");
    b.output("y", {-1, 4});
    seeds.push_back(b.m);
  }
  {  // CNN: grouped Conv, BatchNormalization, Clip (inputs), MaxPool, Pad + AveragePool, Flatten, Gemm
    Builder b(13);
    b.input("x", {1, 2, 6, 6});
    b.weight("Wc", {4, 1, 3, 3});
    b.weight("Bc", {4});
    for (const char* p : {"s", "b", "mu"}) b.weight(p, {4});
    b.weight("var", {4});
    for (int k = 0; k < 4; ++k)  // a positive variance
      reinterpret_cast<float*>(b.g->mutable_initializer(b.g->initializer_size() - 1)->mutable_raw_data()->data())[k] =
          1.0f + 0.1f * float(k);
    b.weight("Wf", {3, 36});
    b.ints("pads", {0, 0, 0, 0, 0, 0, 1, 1});
    auto* c = b.node("Conv", {"x", "Wc", "Bc"}, "c");
    Builder::attr(c, "group", 2LL);
    Builder::attr(c, "pads", std::vector<long long>{1, 1, 1, 1});
    Builder::attr(c, "kernel_shape", std::vector<long long>{3, 3});
    Builder::attr_f(b.node("BatchNormalization", {"c", "s", "b", "mu", "var"}, "bn"), "epsilon", 1e-5f);
    b.scalar("lo", 0.0f);
    b.scalar("hi", 6.0f);
    b.node("Clip", {"bn", "lo", "hi"}, "cl");
    auto* mp = b.node("MaxPool", {"cl"}, "mp");
    Builder::attr(mp, "kernel_shape", std::vector<long long>{2, 2});
    Builder::attr(mp, "strides", std::vector<long long>{2, 2});
    b.node("Pad", {"mp", "pads"}, "pd");
    auto* ap = b.node("AveragePool", {"pd"}, "ap");
    Builder::attr(ap, "kernel_shape", std::vector<long long>{2, 2});
    Builder::attr(b.node("Flatten", {"ap"}, "f"), "axis", 1LL);
    Builder::attr(b.node("Gemm", {"f", "Wf"}, "y"), "transB", 1LL);
    b.output("y", {1, 3});
    seeds.push_back(b.m);
  }
  {  // residual: Conv, Relu, Add, GlobalAveragePool, Shape/Gather/Unsqueeze/Concat/Reshape, Gemm
    Builder b(13);
    b.input("x", {-1, 3, 5, 5});
    b.weight("W", {3, 3, 3, 3});
    b.weight("Wf", {2, 3});
    b.ints("zero", {0}, true);
    b.ints("axes", {0});
    b.ints("minus1", {-1});
    Builder::attr(b.node("Conv", {"x", "W"}, "c"), "pads", std::vector<long long>{1, 1, 1, 1});
    b.node("Relu", {"c"}, "r");
    b.node("Add", {"r", "x"}, "a");
    b.node("GlobalAveragePool", {"a"}, "gp");
    b.node("Shape", {"gp"}, "sh");
    b.node("Gather", {"sh", "zero"}, "n");
    b.node("Unsqueeze", {"n", "axes"}, "u");
    Builder::attr(b.node("Concat", {"u", "minus1"}, "shape"), "axis", 0LL);
    b.node("Reshape", {"gp", "shape"}, "f");
    Builder::attr(b.node("Gemm", {"f", "Wf"}, "y"), "transB", 1LL);
    b.output("y", {-1, 2});
    seeds.push_back(b.m);
  }
  {  // opset 10: two branches, Concat, Clip (attributes), Identity, Reshape, Gemm
    Builder b(10);
    b.input("x", {1, 2, 4, 4});
    b.weight("Wa", {2, 2, 1, 1});
    b.weight("Wb", {3, 2, 3, 3});
    b.weight("Wf", {2, 80});
    b.ints("flat", {1, -1});
    b.node("Conv", {"x", "Wa"}, "a");
    Builder::attr(b.node("Conv", {"x", "Wb"}, "b"), "pads", std::vector<long long>{1, 1, 1, 1});
    Builder::attr(b.node("Concat", {"a", "b"}, "cat"), "axis", 1LL);
    auto* cl = b.node("Clip", {"cat"}, "cl");
    Builder::attr_f(cl, "min", 0.0f);
    Builder::attr_f(cl, "max", 6.0f);
    b.node("Identity", {"cl"}, "id");
    b.node("Reshape", {"id", "flat"}, "f");
    Builder::attr(b.node("Gemm", {"f", "Wf"}, "y"), "transB", 1LL);
    b.output("y", {1, 2});
    seeds.push_back(b.m);
  }
  return seeds;
}

std::vector<onnx::ModelProto> g_seeds;
std::vector<std::string> g_seed_bytes;

const std::vector<std::string> kOps = {"Gemm",
                                       "MatMul",
                                       "Conv",
                                       "BatchNormalization",
                                       "Relu",
                                       "Clip",
                                       "MaxPool",
                                       "AveragePool",
                                       "GlobalAveragePool",
                                       "Flatten",
                                       "Reshape",
                                       "Pad",
                                       "Add",
                                       "Concat",
                                       "Identity",
                                       "Dropout",
                                       "Constant",
                                       "Shape",
                                       "Gather",
                                       "Unsqueeze",
                                       "Softmax",
                                       "LSTM",
                                       "Loop",
                                       ""};
const std::vector<std::string> kAttrs = {
    "axis",     "group",  "pads",   "kernel_shape", "strides",    "dilations",   "ceil_mode",     "count_include_pad",
    "auto_pad", "transA", "transB", "alpha",        "beta",       "allowzero",   "training_mode", "epsilon",
    "momentum", "min",    "max",    "value",        "value_ints", "value_float", "mode",          "start",
    "end",      "axes",   "spatial"};
const std::vector<std::string> kStrings = {
    "NOTSET",  "SAME_UPPER", "VALID", "", "constant", "reflect", std::string(5000, 'p'), std::string("a\0b", 3),
    "\xff\xfe"};

long long nasty_int(Rng& rng) {
  return rng.chance(0.5) ? (long long)rng.pick(nasty_ints()) : (long long)rng.below(9) - 2;
}

void mutate_tensor(Rng& rng, onnx::TensorProto& t) {
  switch (rng.below(8)) {
    case 0:
      if (t.dims_size() > 0) t.set_dims(int(rng.below(std::size_t(t.dims_size()))), nasty_int(rng));
      break;
    case 1:
      if (rng.chance(0.5) && t.dims_size() > 0)
        t.mutable_dims()->RemoveLast();
      else
        t.add_dims(nasty_int(rng));
      break;
    case 2:
      t.set_data_type(int(rng.chance(0.8) ? rng.below(17) : std::size_t(rng.pick(nasty_ints()) & 0x7fffffff)));
      break;
    case 3: {  // raw data cut, extended or dropped
      std::string raw = t.raw_data();
      if (rng.chance(0.4))
        raw.resize(rng.below(raw.size() + 1));
      else if (rng.chance(0.5))
        raw += std::string(1 + rng.below(64), char(rng.below(256)));
      else
        raw.clear();
      t.set_raw_data(raw);
      if (raw.empty() && rng.chance(0.5)) t.clear_raw_data();
      break;
    }
    case 4:
      t.set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
      break;
    case 5:
      t.add_float_data(float(rng.pick(nasty_doubles())));
      break;
    case 6: {  // a NaN, an infinity or a huge value in the data
      std::string raw = t.raw_data();
      if (raw.size() >= 4) {
        const float v = float(rng.pick(nasty_doubles()));
        std::memcpy(raw.data() + 4 * rng.below(raw.size() / 4), &v, 4);
        t.set_raw_data(raw);
      }
      break;
    }
    default:
      t.set_name(rng.chance(0.5) ? "" : rng.pick(nasty_strings()));
  }
}

/// A random value name of the graph (inputs, initializers, node outputs) or a bogus one.
std::string some_name(Rng& rng, const onnx::GraphProto& g) {
  std::vector<std::string> names = {"", "nonexistent"};
  for (const auto& v : g.input()) names.push_back(v.name());
  for (const auto& t : g.initializer()) names.push_back(t.name());
  for (const auto& n : g.node())
    for (const auto& o : n.output()) names.push_back(o);
  return rng.pick(names);
}

void mutate_node(Rng& rng, onnx::GraphProto& g) {
  if (g.node_size() == 0) return;
  onnx::NodeProto& n = *g.mutable_node(int(rng.below(std::size_t(g.node_size()))));
  switch (rng.below(10)) {
    case 0:
    case 1: {  // an attribute value
      if (n.attribute_size() == 0) break;
      auto& a = *n.mutable_attribute(int(rng.below(std::size_t(n.attribute_size()))));
      if (a.type() == onnx::AttributeProto_AttributeType_INT)
        a.set_i(nasty_int(rng));
      else if (a.type() == onnx::AttributeProto_AttributeType_INTS) {
        if (a.ints_size() > 0 && rng.chance(0.6))
          a.set_ints(int(rng.below(std::size_t(a.ints_size()))), nasty_int(rng));
        else if (rng.chance(0.5))
          a.add_ints(nasty_int(rng));
        else
          a.clear_ints();
      } else if (a.type() == onnx::AttributeProto_AttributeType_FLOAT)
        a.set_f(float(rng.pick(nasty_doubles())));
      else if (a.type() == onnx::AttributeProto_AttributeType_TENSOR)
        mutate_tensor(rng, *a.mutable_t());
      else
        a.set_s(rng.pick(kStrings));
      if (rng.chance(0.2)) a.set_type(onnx::AttributeProto_AttributeType(1 + rng.below(14)));
      break;
    }
    case 2: {  // a new attribute of a random type
      auto* a = n.add_attribute();
      a->set_name(rng.pick(kAttrs));
      switch (rng.below(4)) {
        case 0:
          a->set_type(onnx::AttributeProto_AttributeType_INT), a->set_i(nasty_int(rng));
          break;
        case 1:
          a->set_type(onnx::AttributeProto_AttributeType_INTS);
          for (std::size_t k = rng.below(9); k > 0; --k) a->add_ints(nasty_int(rng));
          break;
        case 2:
          a->set_type(onnx::AttributeProto_AttributeType_FLOAT), a->set_f(float(rng.pick(nasty_doubles())));
          break;
        default:
          a->set_type(onnx::AttributeProto_AttributeType_STRING), a->set_s(rng.pick(kStrings));
      }
      break;
    }
    case 3:
      n.set_op_type(rng.pick(kOps));
      break;
    case 4:  // an input rewired, removed or added
      if (n.input_size() > 0 && rng.chance(0.5))
        n.set_input(int(rng.below(std::size_t(n.input_size()))), some_name(rng, g));
      else if (n.input_size() > 0 && rng.chance(0.5))
        n.mutable_input()->RemoveLast();
      else
        n.add_input(some_name(rng, g));
      break;
    case 5:  // an output renamed (possibly onto an existing value) or added
      if (rng.chance(0.7))
        n.set_output(0, some_name(rng, g));
      else
        n.add_output(some_name(rng, g));
      break;
    case 6:
      n.set_domain(rng.chance(0.5) ? "com.microsoft" : "ai.onnx");
      break;
    case 7: {  // two nodes swapped (topological order broken)
      const int a = int(rng.below(std::size_t(g.node_size()))), b = int(rng.below(std::size_t(g.node_size())));
      g.mutable_node()->SwapElements(a, b);
      break;
    }
    case 8: {  // a node deleted
      const int k = int(rng.below(std::size_t(g.node_size())));
      g.mutable_node()->DeleteSubrange(k, 1);
      break;
    }
    default:
      *g.add_node() = n;  // a node duplicated at the end
  }
}

void mutate_io(Rng& rng, onnx::ModelProto& m) {
  onnx::GraphProto& g = *m.mutable_graph();
  switch (rng.below(8)) {
    case 0:
    case 1: {  // an input dimension
      if (g.input_size() == 0) break;
      auto* t = g.mutable_input(0)->mutable_type()->mutable_tensor_type();
      auto* s = t->mutable_shape();
      if (s->dim_size() == 0 || rng.chance(0.15)) {
        t->clear_shape();
        break;
      }
      auto* d = s->mutable_dim(int(rng.below(std::size_t(s->dim_size()))));
      if (rng.chance(0.5))
        d->set_dim_value(nasty_int(rng));
      else if (rng.chance(0.5))
        d->set_dim_param("H");
      else
        d->Clear();
      if (rng.chance(0.1)) s->add_dim()->set_dim_value(nasty_int(rng));
      break;
    }
    case 2:
      if (g.input_size() > 0)
        g.mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(int(rng.below(17)));
      break;
    case 3:
      *g.add_input() = g.input_size() > 0 && rng.chance(0.5) ? g.input(0) : onnx::ValueInfoProto();
      break;
    case 4:
      if (rng.chance(0.5) && g.output_size() > 0)
        g.mutable_output()->RemoveLast();
      else if (g.output_size() > 0)
        g.mutable_output(0)->set_name(some_name(rng, g));
      break;
    case 5:
      if (m.opset_import_size() > 0) m.mutable_opset_import(0)->set_version(nasty_int(rng));
      break;
    case 6:
      if (g.initializer_size() > 0)
        mutate_tensor(rng, *g.mutable_initializer(int(rng.below(std::size_t(g.initializer_size())))));
      break;
    default:
      if (g.initializer_size() > 0)
        g.mutable_initializer()->DeleteSubrange(int(rng.below(std::size_t(g.initializer_size()))), 1);
  }
}

void setup_onnx(const Env&) {
  if (!g_seeds.empty()) return;
  g_seeds = make_seeds();
  // every seed must import as built, or the mutations would start from a broken model
  for (const auto& m : g_seeds) {
    std::string b;
    m.SerializeToString(&b);
    (void)nets::import_onnx_bytes(b, "seed");
    g_seed_bytes.push_back(b);
  }
}

void generate_onnx(Rng& rng, const fs::path& dir) {
  const std::size_t k = rng.below(g_seeds.size());
  Bytes bytes;
  if (rng.chance(0.75)) {
    onnx::ModelProto m = g_seeds[k];
    for (std::size_t ops = 1 + rng.below(3); ops > 0; --ops) {
      if (rng.chance(0.6))
        mutate_node(rng, *m.mutable_graph());
      else
        mutate_io(rng, m);
    }
    m.SerializeToString(&bytes);
    write_file(dir / "mutation.txt", "structured\n");
  } else {
    bytes = g_seed_bytes[k];
    mutate_bytes(rng, bytes, {"\x08\x01", "\x12\x00", "Conv", "Gemm", "SAME_UPPER"});
    write_file(dir / "mutation.txt", "byte-level\n");
  }
  write_file(dir / "input.onnx", bytes);
}

void execute_onnx(const fs::path& input) {
  nets::ImportedModel m = nets::import_onnx(input.string());
  // A model that imports must run: one forward pass on a small batch (models too large to run in the
  // per-input time limit are only imported).
  if ((double)m.net.macs() * 2 > 2e8 || m.net.input_shape().size() > (1 << 22)) return;
  Matrix x = Matrix::Constant(2, m.net.input_shape().size(), 0.25f);
  (void)m.net.forward(x);
}

}  // namespace

Target onnx_target() {
  Target t;
  t.name = "onnx";
  t.ext = "onnx";
  t.what = "nets::import_onnx on structurally mutated ONNX models, then one forward pass";
  t.setup = setup_onnx;
  t.generate = generate_onnx;
  t.execute = execute_onnx;
  return t;
}

}  // namespace aimc::fuzz
