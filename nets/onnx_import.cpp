#include "nets/onnx_import.hpp"

#include <google/protobuf/stubs/logging.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "core/error.hpp"

namespace aimc::nets {

namespace {

static_assert(std::endian::native == std::endian::little, "ONNX raw_data is little-endian");

/// Stands for the (unknown) batch size in the integer vectors of shape arithmetic (Shape of an activation).
constexpr long long kBatch = std::numeric_limits<long long>::min();
/// Largest element count of a tensor or extent of a shape accepted from a file (aimc's layer limit).
constexpr long long kMaxElements = 1LL << 30;

/// A constant tensor: an initializer, the output of a Constant node, or computed shape arithmetic.
struct Const {
  std::vector<long long> dims;
  bool is_int = false;
  std::vector<float> f;      // FLOAT
  std::vector<long long> i;  // INT64 / INT32 (kBatch where the batch size goes)
  long long numel() const { return is_int ? (long long)i.size() : (long long)f.size(); }
};

/// An activation: the output of an aimc node (or the network input) with its ONNX rank.
struct Act {
  int node = -1;  // IR node index, -1 = the network input
  Shape shape;    // aimc per-sample shape; a rank-2 (N, F) tensor is (F, 1, 1)
  int rank = 4;   // 2: (N, F); 4: (N, C, H, W)
  /// Flattened from a (src.c, src.h, src.w) image: ONNX orders its features c H W + h W + w, aimc keeps
  /// (h W + w) C + c. Only set when the two orders differ (C > 1 and H W > 1).
  bool chw = false;
  Shape src;
  /// Zero padding (top, left, bottom, right) of a Pad node not applied yet: a following Conv or
  /// AveragePool takes it into its own pads (torch exports AvgPool2d as Pad + AveragePool).
  std::array<long long, 4> pad{};
  bool padded() const { return pad != std::array<long long, 4>{}; }
};

struct IrNode {
  std::string name;
  LayerSpec spec;
  std::vector<int> inputs;
  std::vector<std::pair<std::string, Matrix>> params;  // slot name -> value
  std::string origin;                                  // "node 3 '/fc/Gemm' (Gemm)" for errors
  bool dense_from_matmul = false;                      // a dense whose bias a following Add may set
};

Act make_act(int node, Shape shape, int rank) {
  Act a;
  a.node = node;
  a.shape = shape;
  a.rank = rank;
  return a;
}

std::string shape_str(const Act& a) {
  if (a.rank == 2) return "(N, " + std::to_string(a.shape.c) + ")";
  return "(N, " + std::to_string(a.shape.c) + ", " + std::to_string(a.shape.h) + ", " + std::to_string(a.shape.w) + ")";
}

std::string ints_str(const std::vector<long long>& v) {
  std::string s = "[";
  for (std::size_t k = 0; k < v.size(); ++k)
    s += (k ? ", " : "") + (v[k] == kBatch ? std::string("N") : std::to_string(v[k]));
  return s + "]";
}

std::string type_name(int t) {
  return onnx::TensorProto_DataType_IsValid(t) ? onnx::TensorProto_DataType_Name(onnx::TensorProto_DataType(t))
                                               : "type " + std::to_string(t);
}

/// The decimal a float attribute was written as (epsilon 1e-5 is stored as 9.99999975e-06): 7 significant
/// digits identify a float, so no information is lost, and the model file shows 1e-05.
double float_decimal(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", double(v));
  return std::strtod(buf, nullptr);
}

class Importer {
 public:
  Importer(const onnx::ModelProto& m, std::string file, const ImportOptions& o)
      : m_(m), g_(m.graph()), file_(std::move(file)), opt_(o) {}
  ImportedModel run();

 private:
  // ---- errors ----
  std::string where() const {
    if (!n_) return file_ + ": ";
    std::string s = file_ + ": node " + std::to_string(idx_);
    if (!n_->name().empty()) s += " '" + n_->name() + "'";
    return s + " (" + op_ + "): ";
  }
  [[noreturn]] void fail(const std::string& what) const { throw Error(where() + what); }

  // ---- attributes of the current node ----
  const onnx::AttributeProto* attr(const std::string& name) const {
    for (const auto& a : n_->attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  void allow_attrs(std::initializer_list<const char*> names) const {
    for (const auto& a : n_->attribute())
      if (std::none_of(names.begin(), names.end(), [&](const char* k) { return a.name() == k; }))
        fail("attribute '" + a.name() + "' is not supported");
  }
  long long attr_int(const std::string& name, long long fallback) const {
    const auto* a = attr(name);
    if (!a) return fallback;
    if (a->type() != onnx::AttributeProto_AttributeType_INT) fail("attribute '" + name + "' is not an integer");
    return a->i();
  }
  float attr_float(const std::string& name, float fallback) const {
    const auto* a = attr(name);
    if (!a) return fallback;
    if (a->type() != onnx::AttributeProto_AttributeType_FLOAT) fail("attribute '" + name + "' is not a float");
    return a->f();
  }
  std::string attr_string(const std::string& name, const std::string& fallback) const {
    const auto* a = attr(name);
    if (!a) return fallback;
    if (a->type() != onnx::AttributeProto_AttributeType_STRING) fail("attribute '" + name + "' is not a string");
    return a->s();
  }
  /// A list of n integers in [lo, hi] (fallback when absent).
  std::vector<long long> attr_ints(const std::string& name, std::size_t n, long long lo, long long hi,
                                   std::vector<long long> fallback) const {
    const auto* a = attr(name);
    if (!a) return fallback;
    if (a->type() != onnx::AttributeProto_AttributeType_INTS)
      fail("attribute '" + name + "' is not a list of integers");
    std::vector<long long> v(a->ints().begin(), a->ints().end());
    if (v.size() != n)
      fail("attribute '" + name + "' = " + ints_str(v) + ": expected " + std::to_string(n) +
           " values (2-D operators only)");
    for (auto x : v)
      if (x < lo || x > hi)
        fail("attribute '" + name + "' = " + ints_str(v) + ": values must be in [" + std::to_string(lo) + ", " +
             std::to_string(hi) + "]");
    return v;
  }
  /// Fails unless the integer attribute `name` is absent or one of `ok`.
  void attr_must_be(const std::string& name, std::initializer_list<long long> ok, const char* why) const {
    const long long v = attr_int(name, *ok.begin());
    if (std::find(ok.begin(), ok.end(), v) == ok.end())
      fail("attribute '" + name + "' = " + std::to_string(v) + " is not supported (" + why + ")");
  }

  // ---- inputs and outputs of the current node ----
  bool has_input(int k) const { return k < n_->input_size() && !n_->input(k).empty(); }
  int input_count() const {
    int n = n_->input_size();
    while (n > 0 && n_->input(n - 1).empty()) --n;
    return n;
  }
  void need_inputs(int lo, int hi) const {
    const int n = input_count();
    if (n < lo || n > hi)
      fail("has " + std::to_string(n) + " inputs, expected " +
           (lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi)));
    for (int k = 0; k < lo; ++k)
      if (!has_input(k)) fail("input " + std::to_string(k) + " is missing");
  }
  bool is_const(int k) const { return has_input(k) && (consts_.count(n_->input(k)) || init_.count(n_->input(k))); }
  bool is_act(int k) const { return has_input(k) && acts_.count(n_->input(k)); }
  /// Input k as an activation; with allow_pad false it must not carry a pending Pad.
  const Act& act(int k, bool allow_pad = false) const {
    const std::string& name = n_->input(k);
    auto it = acts_.find(name);
    if (it != acts_.end()) {
      if (it->second.padded() && !allow_pad)
        fail("input " + std::to_string(k) + " '" + name +
             "' is the output of a Pad; aimc folds a Pad only into the Conv or "
             "AveragePool right after it");
      return it->second;
    }
    if (is_const(k)) fail("input " + std::to_string(k) + " '" + name + "' is a constant; expected an activation");
    fail("input " + std::to_string(k) + " '" + name + "' is not produced by any earlier node");
  }
  const Const& cst(int k) {
    const std::string& name = n_->input(k);
    if (auto it = consts_.find(name); it != consts_.end()) return it->second;
    if (auto it = init_.find(name); it != init_.end())
      return consts_[name] = decode(*it->second, "initializer '" + name + "'");
    if (acts_.count(name))
      fail("input " + std::to_string(k) + " '" + name + "' is an activation; aimc needs a constant (initializer) here");
    fail("input " + std::to_string(k) + " '" + name + "' is not produced by any earlier node");
  }
  /// A FLOAT constant input with exactly `numel` elements (or any count for numel < 0).
  const Const& float_input(int k, const char* role, long long numel = -1) {
    const Const& c = cst(k);
    if (c.is_int) fail(std::string(role) + " '" + n_->input(k) + "' has an integer type; expected FLOAT");
    if (numel >= 0 && c.numel() != numel)
      fail(std::string(role) + " '" + n_->input(k) + "' has " + std::to_string(c.numel()) + " values, expected " +
           std::to_string(numel));
    return c;
  }
  /// The scalar value of an optional one-element FLOAT constant input.
  std::optional<float> scalar_input(int k, const char* role) {
    if (!has_input(k)) return std::nullopt;
    return float_input(k, role, 1).f[0];
  }
  /// Fails if an output past the first is read by anything (e.g. BatchNormalization's training outputs).
  void only_first_output() const {
    for (int k = 1; k < n_->output_size(); ++k)
      if (!n_->output(k).empty() && uses_.count(n_->output(k)))
        fail("output " + std::to_string(k) + " '" + n_->output(k) + "' is used; only output 0 is supported");
  }
  void define(const std::string& name) {
    if (name.empty()) fail("output 0 has no name");
    if (acts_.count(name) || consts_.count(name) || init_.count(name) || name == input_name_)
      fail("output '" + name + "' is defined twice (not a valid ONNX graph)");
  }
  void set_act(const Act& a) {
    define(n_->output(0));
    acts_[n_->output(0)] = a;
  }
  void set_const(Const c) {
    define(n_->output(0));
    consts_[n_->output(0)] = std::move(c);
  }
  void note_folded(const std::string& why) {
    folded_.push_back((n_->name().empty() ? "#" + std::to_string(idx_) : n_->name()) + " (" + op_ + "): " + why);
  }

  /// Appends an aimc node for the current ONNX node reading `inputs`; returns its index.
  int emit(LayerSpec spec, std::vector<int> inputs, std::vector<std::pair<std::string, Matrix>> params = {}) {
    IrNode nd;
    std::string base = n_->name().empty() ? op_ + "_" + std::to_string(idx_) : n_->name();
    nd.name = base;
    for (int k = 2; nd.name == "input" || names_.count(nd.name); ++k) nd.name = base + "_" + std::to_string(k);
    names_.insert(nd.name);
    nd.spec = std::move(spec);
    nd.inputs = std::move(inputs);
    nd.params = std::move(params);
    nd.origin = where();
    ir_.push_back(std::move(nd));
    return int(ir_.size()) - 1;
  }
  /// An activation of the same kind as `a` produced by node `node` with shape `s`.
  static Act same_layout(const Act& a, int node) {
    Act b = a;
    b.node = node;
    return b;
  }
  void require_rank(const Act& a, int rank, int k = 0) const {
    if (a.rank != rank)
      fail("input " + std::to_string(k) + " '" + n_->input(k) + "' is " + shape_str(a) + "; " + op_ + " needs " +
           (rank == 4 ? "(N, C, H, W)" : "(N, F)"));
  }
  void require_hwc(const Act& a, int k, const char* why) const {
    if (a.chw)
      fail("input " + std::to_string(k) + " '" + n_->input(k) + "' is a flattened (C, H, W) = " + a.src.str() +
           " tensor, whose features aimc holds in HWC order, not ONNX's CHW; " + why);
  }

  Const decode(const onnx::TensorProto& t, const std::string& what) const;
  Shape input_shape(const onnx::ValueInfoProto& v);

  void op_constant();
  void op_conv();
  void op_gemm();
  void op_matmul();
  void op_add();
  void op_batchnorm();
  void op_clip();
  void op_pool(bool max);
  void op_concat();
  void op_flatten_like(long long rank2_features_check);
  void op_reshape();
  void op_pad();
  void op_shape();
  void op_gather();
  void op_unsqueeze();
  Matrix dense_weight(const Act& a, const Const& b, bool transposed, long long& out);

  const onnx::ModelProto& m_;
  const onnx::GraphProto& g_;
  std::string file_;
  const ImportOptions& opt_;
  long long opset_ = 0;
  std::string input_name_;
  long long batch_static_ = 0;  // the input's batch dimension when the file fixes it, else 0
  std::map<std::string, const onnx::TensorProto*> init_;
  std::map<std::string, Const> consts_;
  std::map<std::string, Act> acts_;
  std::map<std::string, int> uses_;
  std::vector<IrNode> ir_;
  std::set<std::string> names_;
  std::vector<std::string> folded_;
  // the node being converted
  int idx_ = 0;
  const onnx::NodeProto* n_ = nullptr;
  std::string op_;
};

Const Importer::decode(const onnx::TensorProto& t, const std::string& what) const {
  if (t.data_location() == onnx::TensorProto_DataLocation_EXTERNAL)
    fail(what + " keeps its data in an external file (not supported; save the model with its weights inside)");
  if (t.has_segment()) fail(what + " is segmented (not supported)");
  Const c;
  long long n = 1;
  for (auto d : t.dims()) {
    if (d < 0 || d > kMaxElements) fail(what + " has dimension " + std::to_string(d));
    n *= d;
    if (n > kMaxElements) fail(what + " has more than 2^30 elements");
    c.dims.push_back(d);
  }
  const std::string& raw = t.raw_data();
  auto wrong_count = [&](long long got) {
    fail(what + " has " + std::to_string(got) + " values for dimensions " + ints_str(c.dims) + " (" +
         std::to_string(n) + " values): truncated or corrupt");
  };
  switch (t.data_type()) {
    case onnx::TensorProto_DataType_FLOAT:
      if (t.has_raw_data()) {
        if ((long long)raw.size() != 4 * n) wrong_count((long long)raw.size() / 4);
        c.f.resize(std::size_t(n));
        if (n) std::memcpy(c.f.data(), raw.data(), raw.size());
      } else {
        if (t.float_data_size() != n) wrong_count(t.float_data_size());
        c.f.assign(t.float_data().begin(), t.float_data().end());
      }
      for (float v : c.f)
        if (!std::isfinite(v)) fail(what + " holds a non-finite value (" + to_str(v) + ")");
      return c;
    case onnx::TensorProto_DataType_INT64:
      c.is_int = true;
      if (t.has_raw_data()) {
        if ((long long)raw.size() != 8 * n) wrong_count((long long)raw.size() / 8);
        c.i.resize(std::size_t(n));
        if (n) std::memcpy(c.i.data(), raw.data(), raw.size());
      } else {
        if (t.int64_data_size() != n) wrong_count(t.int64_data_size());
        c.i.assign(t.int64_data().begin(), t.int64_data().end());
      }
      for (long long v : c.i)
        if (v == kBatch) fail(what + " holds the value " + std::to_string(v));
      return c;
    case onnx::TensorProto_DataType_INT32:
      c.is_int = true;
      if (t.has_raw_data()) {
        if ((long long)raw.size() != 4 * n) wrong_count((long long)raw.size() / 4);
        std::vector<std::int32_t> v(static_cast<std::size_t>(n));
        if (n) std::memcpy(v.data(), raw.data(), raw.size());
        c.i.assign(v.begin(), v.end());
      } else {
        if (t.int32_data_size() != n) wrong_count(t.int32_data_size());
        c.i.assign(t.int32_data().begin(), t.int32_data().end());
      }
      return c;
    default:
      fail(what + " has type " + type_name(t.data_type()) +
           "; aimc imports FLOAT weights (and INT64/INT32 shapes) only");
  }
}

Shape Importer::input_shape(const onnx::ValueInfoProto& v) {
  const std::string what = "graph input '" + v.name() + "'";
  if (!v.type().has_tensor_type()) fail(what + " is not a tensor");
  const auto& tt = v.type().tensor_type();
  if (tt.elem_type() != onnx::TensorProto_DataType_FLOAT)
    fail(what + " has type " + type_name(tt.elem_type()) + "; expected FLOAT");
  const auto& given = opt_.input_shape;
  if (given &&
      (given->c < 1 || given->h < 1 || given->w < 1 || double(given->c) * given->h * given->w > double(kMaxElements)))
    fail("--input-shape " + given->str() + ": expected positive C, H, W of at most 2^30 values in all");
  if (!tt.has_shape()) {
    if (!given) fail(what + " has no shape; give it with --input-shape C,H,W");
    return *given;
  }
  const auto& dims = tt.shape().dim();
  const int rank = dims.size();
  if (rank != 2 && rank != 4)
    fail(what + " has rank " + std::to_string(rank) + "; aimc imports images (N, C, H, W) and vectors (N, F)");
  if (dims[0].has_dim_value()) batch_static_ = dims[0].dim_value();
  std::vector<long long> d(4, 1);
  const char* names[] = {"C", "H", "W"};
  for (int k = 1; k < rank; ++k) {
    const auto& dim = dims[k];
    if (given) {
      const long long want = k == 1 ? given->c : k == 2 ? given->h : given->w;
      if (dim.has_dim_value() && dim.dim_value() != want)
        fail(what + " has " + names[k - 1] + " = " + std::to_string(dim.dim_value()) + " but --input-shape gives " +
             std::to_string(want));
      d[std::size_t(k)] = want;
    } else if (!dim.has_dim_value() || dim.dim_value() <= 0) {
      fail(what + " has a dynamic dimension " + names[k - 1] +
           (dim.has_dim_param() ? " ('" + dim.dim_param() + "')" : std::string()) +
           "; give the shape with --input-shape " + (rank == 4 ? "C,H,W" : "F,1,1"));
    } else {
      d[std::size_t(k)] = dim.dim_value();
    }
  }
  if (given && rank == 2 && (given->h != 1 || given->w != 1))
    fail(what + " is a vector (N, F); --input-shape must be F,1,1");
  for (int k = 1; k < 4; ++k)
    if (d[std::size_t(k)] > kMaxElements) fail(what + " has dimension " + std::to_string(d[std::size_t(k)]));
  if (double(d[1]) * double(d[2]) * double(d[3]) > double(kMaxElements))
    fail(what + " has more than 2^30 features per sample");
  return Shape{int(d[1]), int(d[2]), int(d[3])};
}

ImportedModel Importer::run() {
  for (const auto& os : m_.opset_import())
    if (os.domain().empty() || os.domain() == "ai.onnx") opset_ = os.version();
  if (opset_ == 0) fail("no opset_import for the default ONNX domain (not an ONNX model?)");
  if (opset_ < 7 || opset_ > 22)
    fail("opset " + std::to_string(opset_) + " is not supported (opsets 7 to 22; re-export with opset_version=13)");
  if (g_.sparse_initializer_size() > 0) fail("sparse initializers are not supported");
  for (const auto& t : g_.initializer()) {
    if (t.name().empty()) fail("an initializer has no name");
    if (!init_.emplace(t.name(), &t).second) fail("initializer '" + t.name() + "' is defined twice");
  }
  for (const auto& nd : g_.node())
    for (const auto& in : nd.input())
      if (!in.empty()) ++uses_[in];
  for (const auto& out : g_.output()) ++uses_[out.name()];

  // The one graph input that is not an initializer (IR < 4 lists initializers as inputs too).
  std::vector<const onnx::ValueInfoProto*> inputs;
  for (const auto& v : g_.input())
    if (!init_.count(v.name())) inputs.push_back(&v);
  if (inputs.size() != 1)
    fail("the graph has " + std::to_string(inputs.size()) +
         " inputs (not counting initializers); aimc imports exactly one");
  if (g_.output_size() != 1)
    fail("the graph has " + std::to_string(g_.output_size()) + " outputs; aimc imports exactly one");
  input_name_ = inputs[0]->name();
  if (input_name_.empty()) fail("the graph input has no name");
  const Shape in = input_shape(*inputs[0]);
  const int in_rank = inputs[0]->type().tensor_type().has_shape() ? inputs[0]->type().tensor_type().shape().dim_size()
                                                                  : (in.h == 1 && in.w == 1 ? 2 : 4);
  Act x = make_act(-1, in, in_rank);

  if (!opt_.mean.empty() || !opt_.std.empty()) {
    const auto nc = std::size_t(in.c);
    if (opt_.mean.size() != nc || opt_.std.size() != nc)
      fail("--mean and --std need one value per input channel: " + std::to_string(nc) + " each, got " +
           std::to_string(opt_.mean.size()) + " and " + std::to_string(opt_.std.size()));
    for (std::size_t c = 0; c < nc; ++c) {
      if (!std::isfinite(opt_.mean[c])) fail("--mean value " + to_str(opt_.mean[c]) + " is not a finite number");
      if (!(std::isfinite(opt_.std[c]) && opt_.std[c] > 0))
        fail("--std value " + to_str(opt_.std[c]) + " is not a finite positive number");
    }
    IrNode nd;
    nd.name = "normalize";
    names_.insert(nd.name);
    nd.spec = {"normalize", {{"c", in.c}, {"h", in.h}, {"w", in.w}, {"mean", opt_.mean}, {"std", opt_.std}}};
    nd.inputs = {-1};
    nd.origin = file_ + ": input normalization: ";
    ir_.push_back(std::move(nd));
    x.node = 0;
  }
  acts_[input_name_] = x;

  for (idx_ = 0; idx_ < g_.node_size(); ++idx_) {
    n_ = &g_.node(idx_);
    op_ = n_->op_type();
    if (!n_->domain().empty() && n_->domain() != "ai.onnx") {
      op_ = n_->domain() + ":" + op_;
      fail("operator '" + op_ + "' is not supported (only the default ONNX domain)");
    }
    if (n_->output_size() < 1) fail("has no outputs");
    if (op_ == "Constant")
      op_constant();
    else if (op_ == "Identity" || op_ == "Dropout") {
      if (op_ == "Identity") {
        allow_attrs({});
        need_inputs(1, 1);
      } else {
        allow_attrs({"ratio", "is_test", "seed"});
        need_inputs(1, 3);
        if (has_input(2)) {
          const Const& tm = cst(2);
          if (tm.numel() != 1 || (tm.is_int ? tm.i[0] != 0 : tm.f[0] != 0))
            fail("input 2 (training_mode) is not a constant false; only inference is supported");
        }
        only_first_output();
      }
      if (is_const(0))
        set_const(cst(0));
      else
        set_act(act(0, true));
      note_folded("wired through");
    } else if (op_ == "Relu") {
      allow_attrs({});
      need_inputs(1, 1);
      const Act& a = act(0);
      set_act(same_layout(a, emit({"relu", {{"c", a.shape.c}, {"h", a.shape.h}, {"w", a.shape.w}}}, {a.node})));
    } else if (op_ == "Clip")
      op_clip();
    else if (op_ == "Conv")
      op_conv();
    else if (op_ == "Gemm")
      op_gemm();
    else if (op_ == "MatMul")
      op_matmul();
    else if (op_ == "Add")
      op_add();
    else if (op_ == "BatchNormalization")
      op_batchnorm();
    else if (op_ == "MaxPool")
      op_pool(true);
    else if (op_ == "AveragePool")
      op_pool(false);
    else if (op_ == "GlobalAveragePool") {
      allow_attrs({});
      need_inputs(1, 1);
      const Act& a = act(0);
      require_rank(a, 4);
      set_act(make_act(emit({"globalavgpool", {{"c", a.shape.c}, {"h", a.shape.h}, {"w", a.shape.w}}}, {a.node}),
                       {a.shape.c, 1, 1}, 4));
    } else if (op_ == "Flatten") {
      allow_attrs({"axis"});
      need_inputs(1, 1);
      const Act& a = act(0);
      long long axis = attr_int("axis", 1);
      if (axis < 0) axis += a.rank;
      if (axis != 1)
        fail("attribute 'axis' = " + std::to_string(attr_int("axis", 1)) +
             " is not supported (only 1: keep the batch)");
      op_flatten_like(-1);
    } else if (op_ == "Reshape")
      op_reshape();
    else if (op_ == "Pad")
      op_pad();
    else if (op_ == "Concat")
      op_concat();
    else if (op_ == "Shape")
      op_shape();
    else if (op_ == "Gather")
      op_gather();
    else if (op_ == "Unsqueeze")
      op_unsqueeze();
    else
      fail("operator '" + op_ +
           "' is not supported (supported: Gemm, MatMul, Conv, BatchNormalization, Relu, Clip, "
           "MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Pad, Add, Concat, Identity, Dropout, Constant)");
  }
  n_ = nullptr;

  const std::string out_name = g_.output(0).name();
  auto it = acts_.find(out_name);
  if (it == acts_.end())
    fail(consts_.count(out_name) || init_.count(out_name)
             ? "the graph output '" + out_name + "' is a constant"
             : "the graph output '" + out_name + "' is not produced by any node");
  const Act out = it->second;
  if (out.chw)
    fail("the graph output '" + out_name + "' is a flattened (C, H, W) = " + out.src.str() +
         " tensor; aimc would produce its features in HWC order, not ONNX's CHW");
  if (out.node < 0) fail("the graph output '" + out_name + "' is the input: there is nothing to import");
  if (out.padded()) fail("the graph output '" + out_name + "' is the output of a Pad (not supported)");
  // The declared output shape, where the file gives one, must match the inferred one.
  const auto& ot = g_.output(0).type();
  if (ot.has_tensor_type() && ot.tensor_type().has_shape()) {
    const auto& dims = ot.tensor_type().shape().dim();
    std::vector<long long> want = out.rank == 2 ? std::vector<long long>{out.shape.c}
                                                : std::vector<long long>{out.shape.c, out.shape.h, out.shape.w};
    bool ok = dims.size() == int(want.size()) + 1;
    for (int k = 1; ok && k < dims.size(); ++k)
      ok = !dims[k].has_dim_value() || dims[k].dim_value() == want[std::size_t(k - 1)];
    if (!ok)
      fail("the graph output '" + out_name + "' is declared with another shape than the inferred " + shape_str(out));
  }

  // Only the nodes the output depends on, in file order: the output node comes last.
  std::vector<char> live(ir_.size(), 0);
  live[std::size_t(out.node)] = 1;
  for (int k = out.node; k >= 0; --k)
    if (live[std::size_t(k)])
      for (int in_node : ir_[std::size_t(k)].inputs)
        if (in_node >= 0) live[std::size_t(in_node)] = 1;
  ImportedModel res{Network(in), g_.name(), m_.producer_name(), m_.ir_version(), opset_,
                    input_name_, out_name,  g_.node_size(),     folded_};
  if (!m_.producer_version().empty()) res.producer += " " + m_.producer_version();
  for (std::size_t k = 0; k <= std::size_t(out.node); ++k) {
    if (!live[k]) continue;
    IrNode& nd = ir_[k];
    try {
      auto layer = make_layer(nd.spec);
      for (auto& [slot, value] : nd.params) {
        Parameter* p = nullptr;
        for (auto& q : layer->params())
          if (q->name == slot) p = q.get();
        if (!p) throw Error("layer '" + nd.spec.kind + "' has no parameter '" + slot + "'");
        if (p->value.rows() != value.rows() || p->value.cols() != value.cols())
          throw Error("parameter '" + slot + "' of layer '" + nd.spec.kind + "' is " + std::to_string(p->value.rows()) +
                      "x" + std::to_string(p->value.cols()) + ", the model gives " + std::to_string(value.rows()) +
                      "x" + std::to_string(value.cols()));
        p->value = std::move(value);
      }
      std::vector<std::string> in_names;
      for (int in_node : nd.inputs)
        in_names.push_back(in_node < 0 ? std::string("input") : ir_[std::size_t(in_node)].name);
      res.net.add(nd.name, std::move(layer), in_names);
    } catch (const Error& e) {
      throw Error(nd.origin + e.what());
    }
  }
  return res;
}

void Importer::op_constant() {
  allow_attrs({"value", "value_float", "value_floats", "value_int", "value_ints"});
  need_inputs(0, 0);
  if (n_->attribute_size() != 1) fail("expected exactly one value attribute");
  const auto& a = n_->attribute(0);
  Const c;
  if (a.name() == "value") {
    if (a.type() != onnx::AttributeProto_AttributeType_TENSOR) fail("attribute 'value' is not a tensor");
    c = decode(a.t(), "attribute 'value'");
  } else if (a.name() == "value_float" && a.type() == onnx::AttributeProto_AttributeType_FLOAT) {
    c.f = {a.f()};
  } else if (a.name() == "value_floats" && a.type() == onnx::AttributeProto_AttributeType_FLOATS) {
    c.f.assign(a.floats().begin(), a.floats().end());
    c.dims = {(long long)c.f.size()};
  } else if (a.name() == "value_int" && a.type() == onnx::AttributeProto_AttributeType_INT) {
    c.is_int = true;
    c.i = {a.i()};
  } else if (a.name() == "value_ints" && a.type() == onnx::AttributeProto_AttributeType_INTS) {
    c.is_int = true;
    c.i.assign(a.ints().begin(), a.ints().end());
    c.dims = {(long long)c.i.size()};
  } else {
    fail("attribute '" + a.name() + "' has the wrong type");
  }
  set_const(std::move(c));
  note_folded("constant");
}

void Importer::op_clip() {
  need_inputs(1, 3);
  float lo = std::numeric_limits<float>::lowest(), hi = std::numeric_limits<float>::max();  // ONNX's defaults
  bool has_lo = false, has_hi = false;
  if (opset_ < 11) {
    allow_attrs({"min", "max"});
    has_lo = attr("min") != nullptr;
    has_hi = attr("max") != nullptr;
    lo = attr_float("min", lo);
    hi = attr_float("max", hi);
    if (input_count() > 1)
      fail("has " + std::to_string(input_count()) + " inputs; before opset 11 min and max are attributes");
  } else {
    allow_attrs({});
    if (auto v = scalar_input(1, "min")) lo = *v, has_lo = true;
    if (auto v = scalar_input(2, "max")) hi = *v, has_hi = true;
  }
  if (!std::isfinite(lo) || !std::isfinite(hi)) fail("min/max must be finite numbers");
  const Act& a = act(0);
  if (!has_lo && !has_hi) {
    set_act(a);
    note_folded("no bounds: wired through");
  } else if (has_lo && !has_hi && lo == 0.0f) {
    set_act(same_layout(a, emit({"relu", {{"c", a.shape.c}, {"h", a.shape.h}, {"w", a.shape.w}}}, {a.node})));
  } else {
    set_act(same_layout(
        a,
        emit({"clip", {{"c", a.shape.c}, {"h", a.shape.h}, {"w", a.shape.w}, {"min", double(lo)}, {"max", double(hi)}}},
             {a.node})));
  }
}

void Importer::op_conv() {
  allow_attrs({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
  need_inputs(2, 3);
  const Act& a = act(0, true);
  require_rank(a, 4);
  const std::string auto_pad = attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET")
    fail("attribute 'auto_pad' = \"" + auto_pad +
         "\" is not supported (only NOTSET with explicit pads; re-export from PyTorch)");
  const Const& w = float_input(1, "weight");
  if (w.dims.size() != 4)
    fail("weight '" + n_->input(1) + "' has dimensions " + ints_str(w.dims) + "; expected (O, I/group, kh, kw)");
  const long long O = w.dims[0], Ig = w.dims[1], kh = w.dims[2], kw = w.dims[3];
  const long long group = attr_int("group", 1);
  const int C = a.shape.c, H = a.shape.h, W = a.shape.w;
  if (group < 1 || group > C || C % group != 0)
    fail("attribute 'group' = " + std::to_string(group) + " does not divide the " + std::to_string(C) +
         " input channels");
  if (O < 1 || O % group != 0)
    fail("attribute 'group' = " + std::to_string(group) + " does not divide the " + std::to_string(O) +
         " output channels");
  if (Ig * group != C)
    fail("weight '" + n_->input(1) + "' has dimensions " + ints_str(w.dims) + ": " + std::to_string(Ig) + " x group " +
         std::to_string(group) + " input channels, the input has " + std::to_string(C));
  const auto ks = attr_ints("kernel_shape", 2, 1, 1 << 15, {kh, kw});
  if (ks[0] != kh || ks[1] != kw)
    fail("attribute 'kernel_shape' = " + ints_str(ks) + " does not match the weight's " + ints_str(w.dims));
  const auto st = attr_ints("strides", 2, 1, 1 << 15, {1, 1});
  const auto dl = attr_ints("dilations", 2, 1, 1 << 15, {1, 1});
  auto pd = attr_ints("pads", 4, 0, 1 << 15, {0, 0, 0, 0});                 // ONNX: top, left, bottom, right
  for (int k = 0; k < 4; ++k) pd[std::size_t(k)] += a.pad[std::size_t(k)];  // a Pad before: zeros, like the conv's own
  const long long ho = (H + pd[0] + pd[2] - dl[0] * (kh - 1) - 1), wo = (W + pd[1] + pd[3] - dl[1] * (kw - 1) - 1);
  if (ho < 0 || wo < 0)
    fail("the kernel " + ints_str({kh, kw}) + " (dilations " + ints_str(dl) + ") does not fit the input " +
         shape_str(a) + " with pads " + ints_str(pd));
  if (double(ho / st[0] + 1) * double(wo / st[1] + 1) * double(O) > double(kMaxElements))
    fail("the output is larger than 2^30 values per sample");
  const Shape out{int(O), int(ho / st[0] + 1), int(wo / st[1] + 1)};
  if ((long long)kh * kw * C * O > kMaxElements) fail("the weight is too large");

  LayerSpec s{"conv2d",
              {{"in_c", C}, {"in_h", H}, {"in_w", W}, {"out_c", O}, {"kernel", kh}, {"stride", st[0]}, {"pad", pd[0]}}};
  if (kh != kw) s.args.push_back({"kernel_shape", std::vector<long long>{kh, kw}});
  if (st[0] != st[1]) s.args.push_back({"strides", st});
  if (pd[1] != pd[0] || pd[2] != pd[0] || pd[3] != pd[0]) s.args.push_back({"pads", pd});
  if (dl[0] != 1 || dl[1] != 1) s.args.push_back({"dilations", dl});
  if (group != 1) s.args.push_back({"groups", group});

  // Crossbar view: row (i kw + j) C + c, column o; input channel c = g * Ig + cl for output o of group g.
  const long long Og = O / group;
  Matrix wx = Matrix::Zero(kh * kw * C, O);
  for (long long o = 0; o < O; ++o)
    for (long long cl = 0; cl < Ig; ++cl) {
      const long long c = (o / Og) * Ig + cl;
      for (long long i = 0; i < kh; ++i)
        for (long long j = 0; j < kw; ++j)
          wx((i * kw + j) * C + c, o) = w.f[std::size_t(((o * Ig + cl) * kh + i) * kw + j)];
    }
  Matrix b = Matrix::Zero(1, O);
  if (has_input(2)) {
    const Const& bc = float_input(2, "bias", O);
    for (long long o = 0; o < O; ++o) b(0, o) = bc.f[std::size_t(o)];
  }
  set_act(make_act(emit(std::move(s), {a.node}, {{"weight", std::move(wx)}, {"bias", std::move(b)}}), out, 4));
}

Matrix Importer::dense_weight(const Act& a, const Const& b, bool transposed, long long& out) {
  if (b.dims.size() != 2)
    fail("weight '" + n_->input(1) + "' has dimensions " + ints_str(b.dims) + "; expected a matrix");
  const long long K = a.shape.c;
  const long long rows = transposed ? b.dims[1] : b.dims[0];
  out = transposed ? b.dims[0] : b.dims[1];
  if (rows != K)
    fail("weight '" + n_->input(1) + "' has dimensions " + ints_str(b.dims) + (transposed ? " (transB = 1)" : "") +
         " for " + std::to_string(K) + " input features");
  if (out < 1) fail("weight '" + n_->input(1) + "' has no outputs");
  // Crossbar view (K x out); the rows of a flattened image move from ONNX's CHW order to aimc's HWC.
  Matrix wx(K, out);
  const long long C = a.src.c, HW = (long long)a.src.h * a.src.w;
  for (long long k = 0; k < K; ++k) {
    const long long row = a.chw ? (k % HW) * C + k / HW : k;  // k = c HW + p  ->  p C + c
    for (long long m = 0; m < out; ++m)
      wx(row, m) = transposed ? b.f[std::size_t(m * K + k)] : b.f[std::size_t(k * out + m)];
  }
  return wx;
}

void Importer::op_gemm() {
  allow_attrs({"alpha", "beta", "transA", "transB", "broadcast"});
  need_inputs(2, 3);
  const Act& a = act(0);
  require_rank(a, 2);
  if (attr_float("alpha", 1.0f) != 1.0f)
    fail("attribute 'alpha' = " + to_str(attr_float("alpha", 1)) + " is not supported (only 1)");
  if (attr_float("beta", 1.0f) != 1.0f)
    fail("attribute 'beta' = " + to_str(attr_float("beta", 1)) + " is not supported (only 1)");
  attr_must_be("transA", {0}, "the activation must be the first, untransposed operand");
  attr_must_be("transB", {0, 1}, "0 or 1");
  long long out = 0;
  Matrix wx = dense_weight(a, float_input(1, "weight"), attr_int("transB", 0) == 1, out);
  Matrix b = Matrix::Zero(1, out);
  if (has_input(2)) {
    const Const& c = float_input(2, "bias");
    const bool row = c.numel() == out && (c.dims.empty() || c.dims.back() == out);
    if (!row && c.numel() != 1)
      fail("bias '" + n_->input(2) + "' has dimensions " + ints_str(c.dims) + "; expected " + std::to_string(out) +
           " values or 1");
    for (long long m = 0; m < out; ++m) b(0, m) = c.f[std::size_t(row ? m : 0)];
  }
  const int node =
      emit({"dense", {{"in", a.shape.c}, {"out", out}}}, {a.node}, {{"weight", std::move(wx)}, {"bias", std::move(b)}});
  ir_[std::size_t(node)].dense_from_matmul = true;
  set_act(make_act(node, {int(out), 1, 1}, 2));
}

void Importer::op_matmul() {
  allow_attrs({});
  need_inputs(2, 2);
  if (is_const(0)) fail("input 0 is a constant: aimc imports x * W with the activation x first");
  const Act& a = act(0);
  require_rank(a, 2);
  long long out = 0;
  Matrix wx = dense_weight(a, float_input(1, "weight"), false, out);
  const int node = emit({"dense", {{"in", a.shape.c}, {"out", out}}}, {a.node},
                        {{"weight", std::move(wx)}, {"bias", Matrix::Zero(1, out)}});
  ir_[std::size_t(node)].dense_from_matmul = true;
  set_act(make_act(node, {int(out), 1, 1}, 2));
}

void Importer::op_add() {
  allow_attrs({});
  need_inputs(2, 2);
  if (is_act(0) && is_act(1)) {
    const Act &a = act(0), &b = act(1);
    if (!(a.shape == b.shape) || a.rank != b.rank)
      fail("adds " + shape_str(a) + " and " + shape_str(b) +
           "; aimc adds activations of one shape only (no broadcasting)");
    if (a.chw != b.chw || (a.chw && !(a.src == b.src)))
      fail("adds a flattened (C, H, W) tensor and another tensor whose features are in a different order");
    set_act(same_layout(
        a, emit({"add", {{"c", a.shape.c}, {"h", a.shape.h}, {"w", a.shape.w}, {"n", 2}}}, {a.node, b.node})));
    return;
  }
  for (int k = 0; k < 2; ++k)
    if (!is_act(k) && !is_const(k)) act(k);  // fails naming the undefined input
  if (is_const(0) && is_const(1))
    fail("adds two constants (constant folding is not supported; export with do_constant_folding=True)");
  const int ka = is_act(0) ? 0 : 1;
  const Act& a = act(ka);
  const std::string& aname = n_->input(ka);
  const bool foldable = a.node >= 0 && ir_[std::size_t(a.node)].dense_from_matmul && uses_[aname] == 1;
  if (!foldable)
    fail("adds a constant to '" + aname +
         "'; aimc supports activation + constant only as the bias of the MatMul/Gemm "
         "right before it (whose output nothing else reads)");
  const Const& c = float_input(1 - ka, "bias");
  const long long out = a.shape.c;
  const bool row = c.numel() == out && (c.dims.empty() || c.dims.back() == out) && c.dims.size() <= 2;
  if (!row && !(c.numel() == 1 && c.dims.size() <= 2))
    fail("bias '" + n_->input(1 - ka) + "' has dimensions " + ints_str(c.dims) + "; expected " + std::to_string(out) +
         " values or 1");
  Matrix& bias = ir_[std::size_t(a.node)].params[1].second;
  for (long long m = 0; m < out; ++m) bias(0, m) += c.f[std::size_t(row ? m : 0)];
  set_act(a);
  note_folded("bias added to the MatMul/Gemm before it");
}

void Importer::op_batchnorm() {
  allow_attrs({"epsilon", "momentum", "spatial", "training_mode", "is_test"});
  need_inputs(5, 5);
  only_first_output();
  attr_must_be("spatial", {1}, "per-channel statistics only");
  attr_must_be("training_mode", {0}, "inference only");
  const Act& a = act(0);
  require_hwc(a, 0, "a per-feature BatchNormalization of it would need its parameters permuted");
  const long long C = a.shape.c;
  const char* roles[] = {"scale", "bias (B)", "mean", "var"};
  const char* slots[] = {"weight", "bias", "running_mean", "running_var"};
  std::vector<std::pair<std::string, Matrix>> params;
  for (int k = 0; k < 4; ++k) {
    const Const& c = float_input(k + 1, roles[k], C);
    Matrix v(1, C);
    for (long long i = 0; i < C; ++i) v(0, i) = c.f[std::size_t(i)];
    if (k == 3 && (v.array() < 0).any()) fail("var '" + n_->input(4) + "' has a negative value");
    params.emplace_back(slots[k], std::move(v));
  }
  const float eps = attr_float("epsilon", 1e-5f), mom = attr_float("momentum", 0.9f);
  if (!(eps > 0) || !std::isfinite(eps)) fail("attribute 'epsilon' = " + to_str(eps) + " is not a positive number");
  if (!(mom >= 0 && mom <= 1)) fail("attribute 'momentum' = " + to_str(mom) + " is not in [0, 1]");
  LayerSpec s{"batchnorm",
              {{"c", a.shape.c},
               {"h", a.shape.h},
               {"w", a.shape.w},
               {"eps", float_decimal(eps)},
               {"momentum", float_decimal(1.0f - mom)}}};  // aimc (PyTorch) momentum = 1 - ONNX momentum
  set_act(same_layout(a, emit(std::move(s), {a.node}, std::move(params))));
}

void Importer::op_pool(bool max) {
  if (max)
    allow_attrs({"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"});
  else
    allow_attrs({"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"});
  need_inputs(1, 1);
  only_first_output();
  const Act& a = act(0, !max);
  require_rank(a, 4);
  const std::string auto_pad = attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET")
    fail("attribute 'auto_pad' = \"" + auto_pad + "\" is not supported (only NOTSET with explicit pads)");
  attr_must_be("ceil_mode", {0}, "only floor (0)");
  if (max) {
    attr_must_be("storage_order", {0}, "only row-major indices");
    const auto dl = attr_ints("dilations", 2, 1, 1, {1, 1});
    (void)dl;
  }
  if (!attr("kernel_shape")) fail("attribute 'kernel_shape' is missing");
  const auto ks = attr_ints("kernel_shape", 2, 1, 1 << 15, {});
  const auto st = attr_ints("strides", 2, 1, 1 << 15, {1, 1});
  auto pd = attr_ints("pads", 4, 0, 1 << 15, {0, 0, 0, 0});
  long long cip = max ? 1 : attr_int("count_include_pad", 0);  // ONNX's default 0, aimc's 1
  if (cip != 0 && cip != 1) fail("attribute 'count_include_pad' = " + std::to_string(cip) + " is not 0 or 1");
  if (a.padded()) {  // the zeros of a Pad before are values the average counts
    if (cip == 0 && std::any_of(pd.begin(), pd.end(), [](long long p) { return p != 0; }))
      fail("a Pad before an AveragePool with pads of its own and count_include_pad = 0 is not supported");
    for (int k = 0; k < 4; ++k) pd[std::size_t(k)] += a.pad[std::size_t(k)];
    cip = 1;
  }
  for (int k = 0; k < 4; ++k)
    if (pd[std::size_t(k)] >= ks[std::size_t(k % 2)])
      fail("attribute 'pads' = " + ints_str(pd) + ": each pad must be smaller than the kernel " + ints_str(ks));
  const long long ho = a.shape.h + pd[0] + pd[2] - ks[0], wo = a.shape.w + pd[1] + pd[3] - ks[1];
  if (ho < 0 || wo < 0)
    fail("the window " + ints_str(ks) + " does not fit the input " + shape_str(a) + " with pads " + ints_str(pd));
  LayerSpec s{max ? "maxpool2d" : "avgpool2d",
              {{"in_c", a.shape.c}, {"in_h", a.shape.h}, {"in_w", a.shape.w}, {"kernel", ks[0]}, {"stride", st[0]}}};
  if (ks[0] != ks[1]) s.args.push_back({"kernel_shape", ks});
  if (st[0] != st[1]) s.args.push_back({"strides", st});
  const bool padded = std::any_of(pd.begin(), pd.end(), [](long long p) { return p != 0; });
  if (padded) s.args.push_back({"pads", pd});
  if (!max && padded && cip == 0) s.args.push_back({"count_include_pad", 0LL});
  if (double(ho / st[0] + 1) * double(wo / st[1] + 1) * double(a.shape.c) > double(kMaxElements))
    fail("the output is larger than 2^30 values per sample");
  const Shape out{a.shape.c, int(ho / st[0] + 1), int(wo / st[1] + 1)};
  set_act(make_act(emit(std::move(s), {a.node}), out, 4));
}

void Importer::op_flatten_like(long long features) {
  const Act& a = act(0);
  if (features >= 0 && features != a.shape.size())
    fail("reshapes " + shape_str(a) + " to " + std::to_string(features) + " features per sample");
  if (a.rank == 2) {
    set_act(a);
    note_folded("already (N, F): wired through");
    return;
  }
  Act b;
  b.rank = 2;
  b.shape = {a.shape.size(), 1, 1};
  if (a.shape.h == 1 && a.shape.w == 1) {
    b.node = a.node;
    note_folded("(N, C, 1, 1) to (N, C): the same features");
  } else {
    b.node = emit({"flatten", {{"c", a.shape.c}, {"h", a.shape.h}, {"w", a.shape.w}}}, {a.node});
  }
  b.chw = a.shape.c > 1 && a.shape.h * a.shape.w > 1;
  b.src = a.shape;
  set_act(b);
}

void Importer::op_reshape() {
  allow_attrs({"allowzero"});
  need_inputs(2, 2);
  const Act& a = act(0);
  const Const& s = cst(1);
  if (!s.is_int) fail("input 1 (shape) '" + n_->input(1) + "' is not an integer tensor");
  const bool allowzero = attr_int("allowzero", 0) != 0;
  const long long F = a.shape.size();
  const auto& v = s.i;
  const bool batch_first = v.size() == 2 && ((v[0] == 0 && !allowzero) || v[0] == kBatch ||
                                             (batch_static_ > 0 && v[0] == batch_static_) || (v[0] == -1 && v[1] == F));
  if (!batch_first || !(v[1] == -1 || v[1] == F) || (v[0] == -1 && v[1] == -1))
    fail("reshapes " + shape_str(a) + " to " + ints_str(v) + "; aimc supports only (N, -1) and (N, " +
         std::to_string(F) + ")");
  op_flatten_like(-1);
}

void Importer::op_pad() {
  std::vector<long long> pads;
  float value = 0;
  std::string mode;
  if (opset_ < 11) {
    allow_attrs({"mode", "pads", "value"});
    need_inputs(1, 1);
    const auto* p = attr("pads");
    if (!p || p->type() != onnx::AttributeProto_AttributeType_INTS)
      fail("attribute 'pads' is missing or not a list of integers");
    pads.assign(p->ints().begin(), p->ints().end());
    value = attr_float("value", 0.0f);
  } else {
    allow_attrs({"mode"});
    need_inputs(2, 3);
    const Const& p = cst(1);
    if (!p.is_int) fail("input 1 (pads) '" + n_->input(1) + "' is not an integer tensor");
    pads = p.i;
    if (auto v = scalar_input(2, "constant_value")) value = *v;
  }
  mode = attr_string("mode", "constant");
  if (mode != "constant") fail("attribute 'mode' = \"" + mode + "\" is not supported (only constant zero padding)");
  if (value != 0.0f) fail("pads with the value " + to_str(value) + "; only zero padding is supported");
  const Act& a = act(0);
  const std::size_t r = std::size_t(a.rank);
  if (pads.size() != 2 * r)
    fail("pads " + ints_str(pads) + " has " + std::to_string(pads.size()) + " values for a rank-" + std::to_string(r) +
         " input");
  for (std::size_t k = 0; k < pads.size(); ++k)
    if (pads[k] < 0 || pads[k] > (1 << 15) || ((k % r) < 2 && pads[k] != 0))
      fail("pads " + ints_str(pads) + " is not supported (only non-negative padding of the height and width)");
  Act b = a;
  if (r == 4) b.pad = {pads[2], pads[3], pads[6], pads[7]};  // ONNX: begins of N C H W, then ends
  set_act(b);
  note_folded(b.padded() ? "zero padding taken into the next Conv or AveragePool" : "no padding: wired through");
}

void Importer::op_concat() {
  allow_attrs({"axis"});
  if (input_count() < 1) fail("has no inputs");
  if (!attr("axis")) fail("attribute 'axis' is missing");
  if (is_const(0)) {  // shape arithmetic: integer vectors joined on axis 0
    Const c;
    c.is_int = true;
    for (int k = 0; k < input_count(); ++k) {
      const Const& p = cst(k);
      if (!p.is_int || p.dims.size() != 1)
        fail("joins constants other than integer vectors (only shape arithmetic is supported)");
      c.i.insert(c.i.end(), p.i.begin(), p.i.end());
    }
    if (attr_int("axis", 0) != 0 && attr_int("axis", 0) != -1)
      fail("attribute 'axis' of a vector concatenation must be 0");
    c.dims = {(long long)c.i.size()};
    set_const(std::move(c));
    note_folded("shape arithmetic");
    return;
  }
  const Act& a0 = act(0);
  long long axis = attr_int("axis", 1);
  if (axis < 0) axis += a0.rank;
  if (axis != 1)
    fail("attribute 'axis' = " + std::to_string(attr_int("axis", 1)) + " is not supported (only 1, the channels)");
  std::vector<long long> channels;
  std::vector<int> nodes;
  for (int k = 0; k < input_count(); ++k) {
    const Act& a = act(k);
    if (a.rank != a0.rank || a.shape.h != a0.shape.h || a.shape.w != a0.shape.w)
      fail("joins " + shape_str(a0) + " and " + shape_str(a) + "; the inputs must agree in all but the channels");
    require_hwc(a, k, "joining it would mix the orders");
    channels.push_back(a.shape.c);
    nodes.push_back(a.node);
  }
  long long total = 0;
  for (auto c : channels) total += c;
  if (double(total) * a0.shape.h * a0.shape.w > double(kMaxElements)) fail("the output is too large");
  if (channels.size() == 1) {
    set_act(a0);
    note_folded("one input: wired through");
    return;
  }
  const int node = emit({"concat", {{"h", a0.shape.h}, {"w", a0.shape.w}, {"channels", channels}}}, nodes);
  set_act(make_act(node, {int(total), a0.shape.h, a0.shape.w}, a0.rank));
}

void Importer::op_shape() {
  allow_attrs({"start", "end"});
  need_inputs(1, 1);
  const Act& a = act(0);
  std::vector<long long> full = a.rank == 2 ? std::vector<long long>{kBatch, a.shape.c}
                                            : std::vector<long long>{kBatch, a.shape.c, a.shape.h, a.shape.w};
  const long long r = (long long)full.size();
  auto clampi = [&](long long v) { return std::clamp(v < 0 ? v + r : v, 0LL, r); };
  const long long b = clampi(attr_int("start", 0)), e = clampi(attr_int("end", r));
  Const c;
  c.is_int = true;
  if (b < e) c.i.assign(full.begin() + b, full.begin() + e);
  c.dims = {(long long)c.i.size()};
  set_const(std::move(c));
  note_folded("shape arithmetic");
}

void Importer::op_gather() {
  allow_attrs({"axis"});
  need_inputs(2, 2);
  if (!is_const(0)) fail("gathers from an activation (only shape arithmetic on constant integer vectors is supported)");
  const Const& d = cst(0);
  const Const& ix = cst(1);
  if (!d.is_int || d.dims.size() != 1 || !ix.is_int || ix.dims.size() > 1 || attr_int("axis", 0) != 0)
    fail("only indexing an integer vector (shape arithmetic) is supported");
  Const c;
  c.is_int = true;
  c.dims = ix.dims;
  const long long n = (long long)d.i.size();
  for (long long k : ix.i) {
    if (k < -n || k >= n) fail("index " + std::to_string(k) + " is out of range for " + ints_str(d.i));
    c.i.push_back(d.i[std::size_t(k < 0 ? k + n : k)]);
  }
  set_const(std::move(c));
  note_folded("shape arithmetic");
}

void Importer::op_unsqueeze() {
  need_inputs(1, 2);
  std::vector<long long> axes;
  if (opset_ < 13) {
    allow_attrs({"axes"});
    if (const auto* a = attr("axes")) axes.assign(a->ints().begin(), a->ints().end());
  } else {
    allow_attrs({});
    need_inputs(2, 2);
    const Const& ax = cst(1);
    if (!ax.is_int) fail("input 1 (axes) is not an integer tensor");
    axes = ax.i;
  }
  if (!is_const(0)) fail("unsqueezes an activation (only shape arithmetic on constants is supported)");
  Const c = cst(0);
  const long long r = (long long)(c.dims.size() + axes.size());
  for (auto& x : axes) {
    if (x < -r || x >= r) fail("axis " + std::to_string(x) + " is out of range");
    if (x < 0) x += r;
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) fail("an axis is repeated");
  for (auto x : axes) c.dims.insert(c.dims.begin() + x, 1);
  set_const(std::move(c));
  note_folded("shape arithmetic");
}

}  // namespace

ImportedModel import_onnx_bytes(std::string_view bytes, const std::string& label, const ImportOptions& options) {
  if (bytes.size() > std::size_t(std::numeric_limits<int>::max()))
    throw Error(label + ": larger than 2 GiB; ONNX files with external data are not supported");
  onnx::ModelProto m;
  bool ok = false;
  {
    google::protobuf::LogSilencer quiet;  // protobuf's own parse diagnostics would be extra stderr lines
    ok = m.ParseFromArray(bytes.data(), int(bytes.size()));
  }
  if (!ok) throw Error(label + ": not an ONNX model (the protobuf data is truncated or corrupt)");
  if (!m.has_graph() || m.graph().node_size() == 0)
    throw Error(label + ": not an ONNX model (no graph or an empty graph)");
  return Importer(m, label, options).run();
}

ImportedModel import_onnx(const std::string& path, const ImportOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a directory, not an ONNX model file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the ONNX model file");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw Error(path + ": cannot read the ONNX model file");
  if (size > std::streamoff(std::numeric_limits<int>::max()))
    throw Error(path + ": larger than 2 GiB; ONNX files with external data are not supported");
  in.seekg(0);
  std::string bytes(std::size_t(size), '\0');
  if (size > 0 && !in.read(bytes.data(), size)) throw Error(path + ": cannot read the ONNX model file");
  if (bytes.empty()) throw Error(path + ": empty file, not an ONNX model");
  return import_onnx_bytes(bytes, path, options);
}

}  // namespace aimc::nets
