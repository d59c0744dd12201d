// ONNX import (nets/onnx_import.hpp) against PyTorch. tests/nets/torch_export.py builds small models
// with torch (seeded, eval mode, randomized BatchNorm statistics), exports them with torch.onnx.export and
// writes inputs and outputs computed by torch in float64: the oracle is torch, independent of aimc.
// The same script builds malformed graphs with onnx.helper for the error cases.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "core/random.hpp"
#include "nets/model_io.hpp"
#include "nets/onnx_import.hpp"
#include "tests/data/helpers.hpp"

using namespace aimc;
using namespace aimc::nets;
using aimc::test::error_of;
using aimc::test::read_bytes;
using aimc::test::ScratchDir;
using aimc::test::write_bytes;

namespace {

namespace fs = std::filesystem;

/// torch_export.py's output. CTest runs every test case as a process of its own, and importing torch
/// takes a second, so the output is kept in the build tree under a name derived from the script's
/// contents (FNV-1a): the first test process writes it (to a temporary directory renamed into place, so
/// concurrent processes never see half of it) and later ones, until the script changes, read it.
/// Tries Debian's /usr/bin/python3 first, then the python3 on PATH (which may be another installation).
const fs::path& exported() {
  static const fs::path dir = [] {
    const auto script = read_bytes(AIMC_SOURCE_DIR "/tests/nets/torch_export.py");
    REQUIRE(!script.empty());
    std::uint64_t h = 1469598103934665603ull;
    for (std::uint8_t c : script) h = (h ^ c) * 1099511628211ull;
    char name[64];
    std::snprintf(name, sizeof name, "onnx-export-%016llx", (unsigned long long)h);
    const fs::path base = fs::path(AIMC_BINARY_DIR) / "tests", final = base / name;
    if (fs::exists(final / "reference.h5")) return final;
    const fs::path tmp = base / (std::string(name) + ".tmp-" + std::to_string((long long)::getpid()));
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    bool ok = false;
    for (const char* py : {"/usr/bin/python3", "python3"}) {  // the output of both attempts goes to export.log
      const std::string log = "'" + (tmp / "export.log").string() + "'";
      const std::string cmd = std::string("echo '[") + py + "]' >> " + log + "; " + py +
                              " '" AIMC_SOURCE_DIR "/tests/nets/torch_export.py' '" + tmp.string() + "' >> " + log +
                              " 2>&1";
      if ((ok = std::system(cmd.c_str()) == 0)) break;
    }
    if (!ok) {
      const auto log = read_bytes((tmp / "export.log").string());
      fs::remove_all(tmp);
      FAIL(
          "tests/nets/torch_export.py failed: it needs a Python 3 with torch, onnx and h5py (Debian's python3-torch, "
          "python3-onnx, python3-h5py: run scripts/bootstrap.sh). Its output: "
          << std::string(log.begin(), log.end()));
    }
    std::error_code ec;
    fs::rename(tmp, final, ec);  // fails if another process was first: its copy is as good
    if (ec) fs::remove_all(tmp, ec);
    for (const auto& e : fs::directory_iterator(base, ec))  // outputs of earlier versions of the script
      if (e.path().filename().string().rfind("onnx-export-", 0) == 0 && e.path() != final &&
          e.path().filename().string().find(".tmp-") == std::string::npos)
        fs::remove_all(e.path(), ec);
    return final;
  }();
  return dir;
}

std::string model(const std::string& name) { return (exported() / (name + ".onnx")).string(); }

struct Reference {
  std::vector<hsize_t> xdims;  // (N, C, H, W) or (N, F)
  std::vector<double> x, y, bound;
  long long out = 0;
};

Reference reference(const std::string& name) {
  const std::string path = (exported() / "reference.h5").string();
  auto f = h5::open_read(path);
  auto g = h5::open_group(f, name, path);
  Reference r;
  r.xdims = h5::dims(g, "x", path);
  r.x = h5::read_doubles(g, "x", path);
  r.y = h5::read_doubles(g, "y", path);
  r.bound = h5::read_doubles(g, "bound", path);
  r.out = (long long)h5::dims(g, "y", path).at(1);
  return r;
}

/// The NCHW inputs as aimc rows: sample b, feature (h W + w) C + c = x[b, c, h, w] (a naive loop).
Matrix hwc_rows(const Reference& r) {
  const long long n = (long long)r.xdims[0];
  const long long C = (long long)r.xdims[1], H = r.xdims.size() == 4 ? (long long)r.xdims[2] : 1,
                  W = r.xdims.size() == 4 ? (long long)r.xdims[3] : 1;
  Matrix m(n, C * H * W);
  for (long long b = 0; b < n; ++b)
    for (long long c = 0; c < C; ++c)
      for (long long h = 0; h < H; ++h)
        for (long long w = 0; w < W; ++w)
          m(b, (h * W + w) * C + c) = float(r.x[std::size_t(((b * C + c) * H + h) * W + w)]);
  return m;
}

/// Imports `name`, runs its reference inputs through aimc and compares with torch's float64 outputs.
///
/// Tolerance. Weights and inputs are the same float32 numbers on both sides, and torch's float64 result is
/// exact to ~1e-16 relative, so the difference is aimc's float32 rounding. A sum of k terms computed in
/// float32 in any order (blocked GEMM, FMA) is off by at most gamma_k = k u / (1 - k u), u = 2^-24, times
/// the sum of the terms' magnitudes (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed.,
/// Eq. 3.5). So every rounding layer l (conv, dense, BatchNorm, average pool, add) adds to its output z_l
/// at most e_l = gamma_k * (the layer with |weights| on |its input|), k its longest sum (kh kw in_c + 1 for
/// a conv, the crossbar aimc sums over; 6 roundings for a BatchNorm); ReLU, clipping, max pooling and
/// reshapes round nothing. To first order that error reaches output j through the Jacobian:
///     |aimc_j - exact_j| <= sum_l sum_i |d y_j / d z_l,i| e_l,i  (+ O(u^2)),
/// which torch_export.py evaluates per sample and output with autograd in float64 (`bound`). This is a
/// bound from the sizes and values, no number fitted to the results.
void check_against_torch(const std::string& name, const ImportOptions& o = {}) {
  CAPTURE(name);
  const Reference r = reference(name);
  ImportedModel m = import_onnx(model(name), o);
  const Shape want =
      r.xdims.size() == 4 ? Shape{int(r.xdims[1]), int(r.xdims[2]), int(r.xdims[3])} : Shape{int(r.xdims[1]), 1, 1};
  REQUIRE(m.net.input_shape() == want);
  REQUIRE(m.net.output_shape() == Shape{int(r.out), 1, 1});
  const Matrix x = hwc_rows(r);
  const Matrix y = m.net.forward(x);
  REQUIRE(y.rows() == x.rows());
  REQUIRE(y.cols() == r.out);
  double worst = 0, max_tol = 0, max_y = 0;
  long long bad = 0;
  for (long long i = 0; i < y.size(); ++i) {
    const double tol = r.bound[std::size_t(i)];
    const double d = std::abs(double(y.data()[i]) - r.y[std::size_t(i)]);
    if (!(d <= tol)) ++bad;
    worst = std::max(worst, d / tol);
    max_tol = std::max(max_tol, tol);
    max_y = std::max(max_y, std::abs(r.y[std::size_t(i)]));
  }
  CAPTURE(worst);
  CAPTURE(max_tol);
  CAPTURE(max_y);
  CHECK(bad == 0);
  // Power: the tolerance is far below the outputs, so a permuted weight or a wrong layer (an O(1) error)
  // cannot pass.
  CHECK(max_tol < 1e-3 * max_y);
}

}  // namespace

TEST_CASE("onnx import: an MLP (Gemm, ReLU, MatMul + Add folded into one dense) matches torch") {
  check_against_torch("mlp");
  const ImportedModel m = import_onnx(model("mlp"));
  CHECK(m.net.size() == 5);  // dense relu dense relu dense: the Add became the last dense's bias
  CHECK(m.opset == 13);
  CHECK(m.producer.rfind("pytorch", 0) == 0);
  CHECK(m.input_name == "x");
  CHECK(m.output_name == "y");
}

TEST_CASE("onnx import: Flatten of a (C, H, W) image + Linear: rows permuted from CHW to HWC") {
  check_against_torch("flatcnn");
}

TEST_CASE("onnx import: two branches joined by Concat, then view(x.size(0), -1) with a dynamic batch") {
  check_against_torch("concat");
}

TEST_CASE("onnx import: a ResNet basic-block network (BatchNorm, residual adds, projection shortcut)") {
  check_against_torch("resnet");
  const ImportedModel m = import_onnx(model("resnet"));
  int adds = 0, bns = 0;
  for (std::size_t i = 0; i < m.net.size(); ++i) {
    adds += m.net.layer(i).spec().kind == "add";
    bns += m.net.layer(i).spec().kind == "batchnorm";
  }
  CHECK(adds == 2);
  CHECK(bns == 6);  // stem, 2 per block, the projection shortcut's
  CHECK_FALSE(m.net.is_chain());
}

TEST_CASE("onnx import: a MobileNet block (depthwise conv, BatchNorm, ReLU6 as Clip, pointwise conv)") {
  check_against_torch("mobilenet");
}

TEST_CASE("onnx import: conv and pooling options (rectangular kernels, strides, pads, dilation)") {
  check_against_torch("convopts");
}

TEST_CASE("onnx import: opset 10 Clip with min and max attributes") { check_against_torch("clip10"); }

TEST_CASE("onnx import: BatchNormalization parameters and momentum conversion") {
  const ImportedModel m = import_onnx(model("mobilenet"));
  const Layer& bn = m.net.layer(1);
  REQUIRE(bn.spec().kind == "batchnorm");
  // ONNX stores epsilon 1e-5 as the float 9.99999975e-06 and torch's momentum 0.1 as 0.9 (ONNX's
  // convention); the import gives back 1e-5 and 0.1, aimc's defaults, which spec() does not emit.
  CHECK_FALSE(bn.spec().has("eps"));
  CHECK_FALSE(bn.spec().has("momentum"));
}

TEST_CASE("onnx import: input normalization becomes a first normalize node") {
  ImportOptions o;
  o.mean = {0.5, -0.25};
  o.std = {2.0, 0.5};
  ImportedModel m = import_onnx(model("flatcnn"), o);
  REQUIRE(m.net.layer(0).spec().kind == "normalize");
  CHECK(m.net.name(0) == "normalize");
  const Reference r = reference("flatcnn");
  const Matrix x = hwc_rows(r);
  const Matrix z = m.net.forward_range(x, 0, 1);
  REQUIRE(z.cols() == x.cols());
  long long off = 0;
  for (long long b = 0; b < x.rows(); ++b)
    for (long long f = 0; f < x.cols(); ++f) {
      const int c = int(f % 2);  // HWC: the channel is the fastest index
      const double want = (double(x(b, f)) - o.mean[std::size_t(c)]) / o.std[std::size_t(c)];
      off += std::abs(double(z(b, f)) - want) > 2 * std::ldexp(1.0, -24) * (std::abs(want) + 1);
    }
  CHECK(off == 0);
  // the rest of the graph is the one without normalization
  ImportedModel plain = import_onnx(model("flatcnn"));
  REQUIRE(m.net.size() == plain.net.size() + 1);
  CHECK(m.net.forward_range(z, 1, m.net.size()) == plain.net.forward(z));
  ImportOptions bad = o;
  bad.std = {1.0};
  CHECK(error_of([&] {
          import_onnx(model("flatcnn"), bad);
        }).find("--mean and --std need one value per input channel: 2 each") != std::string::npos);
  bad.std = {1.0, 0.0};
  CHECK(error_of([&] { import_onnx(model("flatcnn"), bad); }).find("--std value 0") != std::string::npos);
}

TEST_CASE("onnx import: an imported model survives save_model / load_model bit for bit") {
  ImportedModel m = import_onnx(model("resnet"));
  ScratchDir dir("onnx-import-save");
  save_model(dir.file("m.h5"), m.net, {"resnet", "imported", 0, 0, 0, 0, "", {}});
  auto l = load_model(dir.file("m.h5"));
  const Matrix x = hwc_rows(reference("resnet"));
  CHECK(l.net.forward(x) == m.net.forward(x));
}

TEST_CASE("onnx import: dynamic spatial dimensions need --input-shape") {
  const std::string f = model("dynamic");
  const std::string e = error_of([&] { import_onnx(f); });
  CHECK(e.find(f + ": graph input 'x' has a dynamic dimension H ('H'); give the shape with --input-shape C,H,W") == 0);
  ImportOptions o;
  o.input_shape = Shape{2, 6, 5};
  ImportedModel m = import_onnx(f, o);
  CHECK(m.net.input_shape() == Shape{2, 6, 5});
  CHECK(m.net.output_shape() == Shape{3, 1, 1});
  o.input_shape = Shape{3, 6, 5};
  CHECK(error_of([&] { import_onnx(f, o); }).find("graph input 'x' has C = 2 but --input-shape gives 3") !=
        std::string::npos);
}

TEST_CASE("onnx import: unsupported graphs give one-line errors naming the node, operator and attribute") {
  struct Case {
    const char* file;
    const char* want;
  };
  const Case cases[] = {
      {"bad_softmax", "node 1 'probs' (Softmax): operator 'Softmax' is not supported"},
      {"bad_lstm", "graph input 'x' has rank 3"},
      {"bad_autopad", "node 0 'conv_same' (Conv): attribute 'auto_pad' = \"SAME_UPPER\" is not supported"},
      {"bad_double", "node 0 'fc64' (Gemm): initializer 'Wd' has type DOUBLE"},
      {"bad_two_inputs", "the graph has 2 inputs"},
      {"bad_two_outputs", "the graph has 2 outputs"},
      {"bad_flat_concat", "node 2 'join' (Concat): input 0 'f' is a flattened (C, H, W) = (2,3,3) tensor"},
      {"bad_add_const", "node 1 'shift' (Add): adds a constant to 'r'"},
      {"bad_ceil", "node 0 'pool' (MaxPool): attribute 'ceil_mode' = 1 is not supported"},
      {"bad_short_tensor", "node 0 'fc' (Gemm): initializer 'Wt' has 12 values for dimensions [4, 6] (24 values)"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.file);
    const std::string f = model(c.file);
    const std::string e = error_of([&] { import_onnx(f); });
    CHECK(e.rfind(f + ": ", 0) == 0);
    CHECK(e.find(c.want) != std::string::npos);
    CHECK(e.find('\n') == std::string::npos);
  }
}

TEST_CASE("onnx import: a recurrent model (LSTM on a (T, N, F) input) is rejected at its 3-D input") {
  // (the input check fires before the operator's; unsupported operators are covered by Softmax above)
  const std::string e = error_of([&] { import_onnx(model("bad_lstm")); });
  CHECK(e.find("aimc imports images (N, C, H, W) and vectors (N, F)") != std::string::npos);
}

TEST_CASE("onnx import: truncated, empty, random and mutated files give an Error, never a crash") {
  const std::string src = model("mlp");
  const auto bytes = read_bytes(src);
  REQUIRE(bytes.size() > 1000);
  ScratchDir dir("onnx-import-bad");
  const std::string f = dir.file("bad.onnx");
  int errors = 0, cases = 0;
  auto attempt = [&](const std::vector<std::uint8_t>& b) {
    write_bytes(f, b);
    ++cases;
    try {
      import_onnx(f);  // a mutation may leave a valid model (e.g. other weights): that is fine
    } catch (const Error& e) {
      ++errors;
      const std::string msg = e.what();
      CHECK(msg.rfind(f + ": ", 0) == 0);
      CHECK(msg.find('\n') == std::string::npos);
    }
  };
  // every truncation point in steps of 7 bytes, and the last byte
  for (std::size_t n = 0; n < bytes.size(); n += 7)
    attempt(std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + long(n)));
  attempt(std::vector<std::uint8_t>(bytes.begin(), bytes.end() - 1));
  const int truncations = cases;
  CHECK(errors == truncations);  // a model cut anywhere lacks part of its graph or weights
  CHECK(error_of([&] { import_onnx(dir.file("missing.onnx")); }) ==
        dir.file("missing.onnx") + ": cannot open the ONNX model file");
  CHECK(error_of([&] { import_onnx(dir.str()); }).find("is a directory") != std::string::npos);
  // random bytes and random single-byte mutations, from a seeded stream
  Stream s(11, "onnx-fuzz");
  for (int t = 0; t < 200; ++t) {
    std::vector<std::uint8_t> b = t < 50 ? std::vector<std::uint8_t>(std::size_t(1 + s.below(4000))) : bytes;
    if (t < 50)
      for (auto& v : b) v = std::uint8_t(s.below(256));
    else
      for (int k = 0; k < 1 + t % 4; ++k) b[std::size_t(s.below(b.size()))] = std::uint8_t(s.below(256));
    attempt(b);
  }
  CHECK(errors >= truncations + 50);  // random bytes are never a model
}
