// `aimc denoise` as a library call (experiments/denoise.hpp): config errors name the file and key and
// leave existing results untouched; a tiny study on a dataset file writes every group, evaluates every
// placement (exhaustive), and its block sizes, greedy placements, exhaustive optima and drops match
// values computed independently here; the gradient-norm ranking is sorted; the results are
// bit-identical for 1 and 2 threads, and a run stopped after some jobs and resumed equals an
// uninterrupted one. The one-line CLI form of the errors: tests/experiments/test_cli_errors.sh.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "../data/helpers.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "data/fashion_mnist.hpp"
#include "experiments/denoise.hpp"
#include "nets/mitigation.hpp"
#include "nets/model_io.hpp"
#include "nets/network.hpp"
#include "nets/train.hpp"
#include "tests/common/layer_helpers.hpp"
#include "tests/common/model_helpers.hpp"

using namespace aimc;
using namespace aimc::experiments;

namespace {

constexpr int kReduction = 16;
// Block sizes (r = 16) on the MLP's sites (256 and 128 features) and fractions of its 235,146 parameters:
// residual 8,736 (3.72 %) and 2,256 (0.96 %), probabilistic 13,088 (5.57 %) and 3,408 (1.45 %). The
// budgets select, whatever the ranking: no block; the cheap site; for residual at 0.04 and probabilistic
// at 0.06 either site alone but not both, so the first site of the exploration order; both sites.
const std::vector<double> kBudgets = {0.005, 0.015, 0.04, 0.06, 0.08};

std::string study_config(const std::string& model, const std::string& data, const std::string& extra = "") {
  return "[model]\npath = \"" + model + "\"\n[data]\ndataset = \"file\"\npath = \"" + data +
         "\"\nsubset = 200\ncalibration = 64\n[mapping]\nsubstrate = \"rram\"\nreadout = \"ideal\"\n"
         "[noise]\nmodel = \"additive\"\nlevels = \"0.05\"\nlayers = \"all\"\n"
         "[denoise]\nforms = \"residual,probabilistic\"\nreduction = 16\nbudgets = \"0.005,0.015,0.04,0.06,0.08\"\nepochs = 1\n"
         "train_images = 300\nrank_images = 200\nrandom_draws = 2\nbatch = 100\n"
         "[mc]\ntrials = 4\nseed = 3\n[sweep]\n\"rram.sigma_prog\" = [0.0, 0.1]\n" +
         extra;
}

int run_quiet(const std::string& config, const std::string& out, bool resume = false, bool force = false) {
  DenoiseOptions o;
  o.config = config;
  o.out = out;
  o.resume = resume;
  o.force = force;
  o.progress = false;
  o.quiet = true;
  return run_denoise(o);
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  s.replace(at, from.size(), to);
  return s;
}

/// Parameters of one denoising block at a (c, h, w) site, from the layout nets/mitigation.hpp states:
/// 1x1 c -> m, k x k m -> m (k = 3 on a feature map, 1 on a vector), 1x1 m -> o, each with a bias;
/// m = C / r hidden channels (r clamped to [1, c]), o = c (residual) or 2c (probabilistic: mean and
/// log variance).
long long block_params(long long c, long long h, long long w, const std::string& form) {
  const long long m = std::max(1LL, c / std::min<long long>(kReduction, c));
  const long long k2 = h * w > 1 ? 9 : 1;
  const long long o = form == "residual" ? c : 2 * c;
  return c * m + m + k2 * m * m + m + m * o + o;
}

/// "10" -> bits (site 0 first), as the variant names spell placements.
std::uint64_t code_of(const std::vector<std::int64_t>& placement) {
  std::uint64_t code = 0;
  for (std::size_t s = 0; s < placement.size(); ++s)
    if (placement[s]) code |= std::uint64_t(1) << s;
  return code;
}
std::string name_of(const std::string& form, std::uint64_t code, std::size_t sites) {
  if (code == 0) return "baseline";
  std::string n = form + "_";
  for (std::size_t s = 0; s < sites; ++s) n += ((code >> s) & 1u) ? '1' : '0';
  return n;
}

/// Every number of a results file that does not depend on time or machine, as bit patterns (NaN-safe,
/// and "bit-identical" means it), plus the names of the variants and placements.
struct Numbers {
  std::vector<std::vector<std::uint64_t>> v;
  std::vector<std::vector<std::int64_t>> i;
  std::vector<std::vector<std::string>> s;
  bool operator==(const Numbers&) const = default;
};
std::vector<std::uint64_t> bits_of(const std::vector<double>& x) {
  std::vector<std::uint64_t> b;
  for (double d : x) b.push_back(std::bit_cast<std::uint64_t>(d));
  return b;
}
Numbers numbers(const std::string& path) {
  Numbers n;
  H5::H5File f(path, H5F_ACC_RDONLY);
  const H5::Group root = f.openGroup("/");
  n.v.push_back(bits_of({h5::attr_double(root, "digital_accuracy", path)}));
  const H5::Group lg = f.openGroup("noise/level000");
  n.v.push_back(bits_of(h5::read_doubles(lg, "gradient_norm", path)));
  n.i.push_back(h5::read_ints(lg, "order", path));
  const H5::Group vg = lg.openGroup("variants");
  n.s.push_back(h5::names(vg, path));
  for (const auto& name : n.s.back()) {
    const H5::Group g = vg.openGroup(name);
    for (const char* d : {"accuracy", "loss"}) n.v.push_back(bits_of(h5::read_doubles(g, d, path)));
    n.i.push_back(h5::read_ints(g, "done", path));
    n.v.push_back(bits_of({h5::attr_double(g, "digital_accuracy", path), h5::attr_double(g, "drop_mean", path)}));
  }
  for (const char* form : {"residual", "probabilistic"}) {
    const H5::Group g = lg.openGroup(form);
    for (const char* d : {"greedy", "random", "exhaustive"}) n.s.push_back(h5::read_strings(g, d, path));
    for (const char* d : {"greedy_drop_mean", "exhaustive_drop_mean"}) n.v.push_back(bits_of(h5::read_doubles(g, d, path)));
    const MatrixD r = h5::read_matrixd(g, "random_drop_mean", path);
    n.v.push_back(bits_of(std::vector<double>(r.data(), r.data() + r.size())));
  }
  const H5::Group ag = f.openGroup("analog");
  n.s.push_back(h5::names(ag, path));
  for (const auto& name : n.s.back())
    for (const char* p : {"p0000", "p0001"}) {
      const H5::Group g = ag.openGroup(name + "/points/" + p);
      for (const char* d : {"accuracy", "loss"}) n.v.push_back(bits_of(h5::read_doubles(g, d, path)));
      n.i.push_back(h5::read_ints(g, "done", path));
    }
  return n;
}

}  // namespace

TEST_CASE("denoise config: errors name the file and the key and existing results stay untouched") {
  test::ScratchDir dir("denoise-errors");
  const std::string out = dir.file("keep.h5");
  test::write_text(out, "not a results file");
  const auto before = test::read_bytes(out);
  // Real inputs, so that the checks against the data (rank_images) are reached.
  const std::string d = test::small_dataset(dir, 200, 200);
  const std::string m = test::small_mlp_model(dir.file("m.h5"), 1, 200);
  auto check = [&](const std::string& text, const std::vector<std::string>& want) {
    test::write_text(dir.file("c.toml"), text);
    const std::string e = test::error_of([&] { run_quiet(dir.file("c.toml"), out, false, true); });
    for (const auto& w : want) {
      CAPTURE(w);
      CHECK_MESSAGE(e.find(w) != std::string::npos, e);
    }
    CHECK_MESSAGE(e.rfind(dir.file("c.toml") + ":", 0) == 0, e);
    CHECK(e.find('\n') == std::string::npos);
    CHECK(test::read_bytes(out) == before);
    CHECK(!std::filesystem::exists(dir.file("keep.blocks")));
  };
  const std::string base = study_config(m, d);
  check(study_config(m, d, "[denoize]\nepochs = 1\n"), {"denoize: unknown key (did you mean 'denoise'?)"});
  check(replace(base, "epochs = 1\n", "epochz = 1\n"), {"denoise.epochz: unknown key (did you mean 'epochs'?)"});
  check(replace(base, "model = \"additive\"", "model = \"gaussian\""), {"noise.model", "gaussian"});
  check(replace(base, "layers = \"all\"", "layers = \"some\""), {"noise.layers", "some"});
  check(replace(base, "levels = \"0.05\"", "levels = \"0.1,x\""), {"noise.levels", "0.1,x"});
  check(replace(base, "levels = \"0.05\"", "levels = \"0.1,0.2,0.1\""), {"noise.levels", "appears twice"});
  check(replace(base, "forms = \"residual,probabilistic\"", "forms = \"residual,foo\""), {"denoise.forms", "'foo'"});
  check(replace(base, "budgets = \"0.005,0.015,0.04,0.06,0.08\"", "budgets = \"0.02,0.01\""), {"denoise.budgets", "increase"});
  check(replace(base, "batch = 100", "batch = 100\nanalog_level = 0.1"), {"denoise.analog_level", "0.05"});
  check(replace(base, "rank_images = 200", "rank_images = 201"), {"denoise.rank_images", "201", "200 training images"});
  check(replace(base, "\"rram.sigma_prog\" = [0.0, 0.1]", "\"rram.sigma_pro\" = [0.0]"), {"sweep.rram.sigma_pro"});
  check(study_config(dir.file("missing.h5"), d), {"missing.h5"});
  // The base config itself parses (each error above comes from its one edit).
  test::write_text(dir.file("base.toml"), base);
  const DenoiseConfig parsed = parse_denoise_config(load_config(dir.file("base.toml")));
  CHECK(parsed.levels == std::vector<double>{0.05});
  CHECK(parsed.budgets == kBudgets);
  CHECK(parsed.forms == std::vector<std::string>{"residual", "probabilistic"});
}

TEST_CASE("denoise: a tiny study writes every group and its placements and block sizes and drops check out") {
  test::ScratchDir dir("denoise-run");
  const std::string data = test::small_dataset(dir);
  const std::string model = test::small_mlp_model(dir.file("mlp.h5"));
  test::write_text(dir.file("c.toml"), study_config(model, data));
  const std::string out1 = dir.file("one.h5"), out2 = dir.file("two.h5");
  {
    test::Threads t(1);
    REQUIRE(run_quiet(dir.file("c.toml"), out1) == 0);
  }
  {
    test::Threads t(2);
    REQUIRE(run_quiet(dir.file("c.toml"), out2) == 0);
  }
  // 1 vs 2 threads: every number bit-identical (gradient norms, block training, both evaluations).
  const Numbers a = numbers(out1);
  CHECK(a == numbers(out2));

  H5::H5File f(out1, H5F_ACC_RDONLY);
  const H5::Group root = f.openGroup("/");
  CHECK(h5::attr_string(root, "format", out1) == "aimc-denoise");
  CHECK(h5::read_doubles(root, "levels", out1) == std::vector<double>{0.05});
  CHECK(h5::read_doubles(root, "budgets", out1) == kBudgets);
  CHECK(h5::read_strings(root, "forms", out1) == std::vector<std::string>{"residual", "probabilistic"});
  // The MLP (784-256-128-10) has two sites, after each hidden ReLU (vectors: h = w = 1).
  const H5::Group st = f.openGroup("sites");
  const auto c = h5::read_ints(st, "c", out1), h = h5::read_ints(st, "h", out1), w = h5::read_ints(st, "w", out1);
  REQUIRE(c == std::vector<std::int64_t>{256, 128});
  CHECK(h == std::vector<std::int64_t>{1, 1});
  CHECK(w == std::vector<std::int64_t>{1, 1});
  const std::size_t S = c.size();
  const long long backbone = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10;
  CHECK(h5::attr_int(root, "backbone_parameters", out1) == backbone);
  CHECK(h5::attr_int(root, "exhaustive", out1) == 1);  // 2^2 placements <= exhaustive_limit 16
  // The clean accuracy: the model on the 200 test images, evaluated here.
  auto loaded = nets::load_model(model);
  const auto test_set = data::load_fashion_mnist("test", "").head(200);
  const double clean = nets::evaluate(loaded.net, test_set).accuracy;
  CHECK(h5::attr_double(root, "digital_accuracy", out1) == clean);

  // Gradient-norm ranking: non-negative norms, `order` a permutation sorting them decreasingly.
  const H5::Group lg = f.openGroup("noise/level000");
  CHECK(h5::attr_double(lg, "eta", out1) == 0.05);
  const auto gn = h5::read_doubles(lg, "gradient_norm", out1);
  const auto order = h5::read_ints(lg, "order", out1);
  REQUIRE(gn.size() == S);
  REQUIRE(order.size() == S);
  for (double g : gn) CHECK((g >= 0 && std::isfinite(g)));
  CHECK(std::set<std::int64_t>(order.begin(), order.end()) == std::set<std::int64_t>{0, 1});
  for (std::size_t i = 1; i < S; ++i) CHECK(gn[std::size_t(order[i - 1])] >= gn[std::size_t(order[i])]);
  CHECK(gn[0] != gn[1]);  // the order is decided by the norms, not by the stable sort's tie rule

  // Every placement of both forms was trained and evaluated (exhaustive), and nothing else.
  const H5::Group vg = lg.openGroup("variants");
  std::set<std::string> want_names = {"baseline"};
  for (const char* form : {"residual", "probabilistic"})
    for (std::uint64_t code = 1; code < (1u << S); ++code) want_names.insert(name_of(form, code, S));
  const auto names = h5::names(vg, out1);
  CHECK(std::set<std::string>(names.begin(), names.end()) == want_names);
  // Per variant: its blocks' size by the formula, its model file, its drop.
  std::map<std::string, long long> extra;
  std::map<std::string, double> drop;
  std::map<std::string, std::string> form_of;
  for (const auto& name : names) {
    CAPTURE(name);
    const H5::Group g = vg.openGroup(name);
    const std::string form = h5::attr_string(g, "form", out1);
    const auto pl = h5::read_ints(g, "placement", out1);
    REQUIRE(pl.size() == S);
    CHECK(name_of(form, code_of(pl), S) == name);
    long long want = 0;
    for (std::size_t s = 0; s < S; ++s)
      if (pl[s]) want += block_params(c[s], h[s], w[s], form);
    extra[name] = h5::attr_int(g, "extra_parameters", out1);
    form_of[name] = form;
    CHECK(extra[name] == want);
    const auto acc = h5::read_doubles(g, "accuracy", out1);
    const auto done = h5::read_ints(g, "done", out1);
    REQUIRE(acc.size() == 4);
    CHECK(done == std::vector<std::int64_t>(4, 1));
    double sum = 0;
    for (double x : acc) sum += x;
    drop[name] = h5::attr_double(g, "drop_mean", out1);
    CHECK(drop[name] == doctest::Approx(clean - sum / 4).epsilon(1e-12));
    CHECK(h5::attr_int(g, "trials_done", out1) == 4);
    const std::string file = h5::attr_string(g, "model_file", out1);
    if (name == "baseline") {
      CHECK(form == "none");
      CHECK(file.empty());
      CHECK(h5::attr_double(g, "digital_accuracy", out1) == clean);
      continue;
    }
    CHECK(std::filesystem::path(file).parent_path() == std::filesystem::path(dir.file("one.blocks")));
    REQUIRE(std::filesystem::exists(file));
    auto m = nets::load_model(file);
    CHECK(nets::parameter_count(m.net) - backbone == want);
    long long blocks = 0;
    for (std::size_t i = 0; i < m.net.size(); ++i) blocks += m.net.layer(i).spec().kind == "denoise";
    CHECK(blocks == pl[0] + pl[1]);
    CHECK(m.meta.test_accuracy == h5::attr_double(g, "digital_accuracy", out1));
  }

  // Per form and budget: the greedy placement is the fill of `order` within the budget; random and
  // exhaustive placements respect the budget; the exhaustive best is no worse than any placement in it.
  std::set<std::string> analog_want = {"baseline"};
  for (const std::string form : {"residual", "probabilistic"}) {
    CAPTURE(form);
    const H5::Group g = lg.openGroup(form);
    const auto greedy = h5::read_strings(g, "greedy", out1);
    const auto greedy_drop = h5::read_doubles(g, "greedy_drop_mean", out1);
    const auto greedy_params = h5::read_doubles(g, "greedy_extra_parameters", out1);
    const auto random = h5::read_strings(g, "random", out1);
    const MatrixD random_drop = h5::read_matrixd(g, "random_drop_mean", out1);
    const auto exhaustive = h5::read_strings(g, "exhaustive", out1);
    const auto exhaustive_drop = h5::read_doubles(g, "exhaustive_drop_mean", out1);
    const std::size_t B = kBudgets.size();
    REQUIRE(greedy.size() == B);
    REQUIRE(random.size() == 2 * B);
    REQUIRE(random_drop.rows() == Eigen::Index(B));
    REQUIRE(random_drop.cols() == 2);
    REQUIRE(exhaustive.size() == B);
    for (std::size_t b = 0; b < B; ++b) {
      CAPTURE(b);
      const double cap = kBudgets[b] * double(backbone);
      std::uint64_t code = 0;
      long long used = 0;
      for (std::int64_t s : order) {
        const long long cost = block_params(c[std::size_t(s)], h[std::size_t(s)], w[std::size_t(s)], form);
        if (double(used + cost) <= cap) {
          used += cost;
          code |= std::uint64_t(1) << s;
        }
      }
      CHECK(greedy[b] == name_of(form, code, S));
      REQUIRE(extra.count(greedy[b]));
      CHECK(double(extra[greedy[b]]) <= cap);
      CHECK(greedy_params[b] == doctest::Approx(double(extra[greedy[b]]) / double(backbone)).epsilon(1e-12));
      CHECK(greedy_drop[b] == drop[greedy[b]]);
      for (std::size_t d = 0; d < 2; ++d) {
        const std::string& rn = random[b * 2 + d];
        REQUIRE(extra.count(rn));
        CHECK(double(extra[rn]) <= cap);
        CHECK(random_drop(Eigen::Index(b), Eigen::Index(d)) == drop[rn]);
      }
      REQUIRE(extra.count(exhaustive[b]));
      CHECK(double(extra[exhaustive[b]]) <= cap);
      CHECK(exhaustive_drop[b] == drop[exhaustive[b]]);
      for (const auto& [name, e] : extra)
        if ((form_of[name] == form || name == "baseline") && double(e) <= cap) {
          CAPTURE(name);
          CHECK(exhaustive_drop[b] <= drop[name]);
        }
    }
    // The budgets were chosen to select different placements (the test's power depends on it).
    CHECK(std::set<std::string>(greedy.begin(), greedy.end()).size() >= 3);
    CHECK(greedy.front() == "baseline");
    CHECK(greedy.back() == name_of(form, 3, S));  // 0.08 holds both blocks of either form
    analog_want.insert(greedy.back());
  }

  // The analog evaluation: the backbone and each form's greedy blocks of the largest budget, every
  // sweep point on 4 chips.
  const H5::Group ag = f.openGroup("analog");
  const auto an = h5::names(ag, out1);
  CHECK(std::set<std::string>(an.begin(), an.end()) == analog_want);
  for (const auto& name : an) {
    CAPTURE(name);
    CHECK(h5::attr_string(ag.openGroup(name), "noise_variant", out1) == name);
    for (const char* p : {"p0000", "p0001"}) {
      const H5::Group pg = ag.openGroup(name + "/points/" + p);
      CHECK(h5::read_ints(pg, "done", out1) == std::vector<std::int64_t>(4, 1));
      for (double x : h5::read_doubles(pg, "accuracy", out1)) CHECK((x >= 0 && x <= 1));
    }
    CHECK(h5::read_doubles(ag.openGroup(name + "/summary"), "accuracy_mean", out1).size() == 2);
  }
  CHECK(h5::read_strings(f.openGroup("sweep"), "axes", out1) == std::vector<std::string>{"rram.sigma_prog"});

  // Stopped after a few jobs (the Scheduler's AIMC_STOP_AFTER_JOBS; one thread: exactly that many) and
  // resumed: the same numbers. 7 variants x 4 noise instances come first, then 3 x 2 x 4 chips.
  const std::string out3 = dir.file("three.h5");
  {
    test::Threads t(1);
    test::ScopedEnv stop("AIMC_STOP_AFTER_JOBS", "10");
    CHECK_THROWS_AS(run_quiet(dir.file("c.toml"), out3), Error);
  }
  REQUIRE(std::filesystem::exists(out3));
  REQUIRE(run_quiet(dir.file("c.toml"), out3, true) == 0);
  CHECK(numbers(out3) == a);
  // Without --resume or --force an existing run is not touched.
  const auto bytes = test::read_bytes(out3);
  CHECK(test::error_of([&] { run_quiet(dir.file("c.toml"), out3); }).find("--resume") != std::string::npos);
  CHECK(test::read_bytes(out3) == bytes);
}
