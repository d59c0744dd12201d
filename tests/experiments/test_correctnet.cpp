// `aimc correctnet` as a library call (experiments/correctnet.hpp): config errors name the file and key
// and leave existing results untouched; a tiny study on a dataset file writes every stage and group,
// its overheads match the block sizes computed independently, the agent's choice is one the exhaustive
// table scores, the results are bit-identical for 1 and 2 threads, and a run stopped after some jobs
// and resumed equals an uninterrupted one.
#include <doctest/doctest.h>

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "../data/helpers.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "experiments/correctnet.hpp"
#include "nets/mitigation.hpp"
#include "nets/model_io.hpp"
#include "nets/network.hpp"
#include "tests/common/model_helpers.hpp"

using namespace aimc;
using namespace aimc::experiments;

namespace {

std::string study_config(const std::string& model, const std::string& data, const std::string& extra = "") {
  return "[model]\npath = \"" + model + "\"\n[data]\ndataset = \"file\"\npath = \"" + data +
         "\"\nsubset = 200\ncalibration = 64\n[mapping]\nsubstrate = \"rram\"\nreadout = \"ideal\"\n"
         "[rram]\nprog_model = \"lognormal\"\ng_min_S = 0.0\n[train]\nepochs = 1\nbatch_size = 100\n"
         "[lipschitz]\nbeta = 1e-3\nsigma = 0.8\n[compensation]\nranks = \"4\"\nsigma = 0.8\nepochs = 1\n"
         "train_images = 300\nbatch = 50\n[search]\nchips = 2\ntrain_images = 300\nval_images = 200\n"
         "[agent]\nepisodes = 6\n[mc]\ntrials = 4\nseed = 3\n[sweep]\n\"rram.sigma_prog\" = [0.0, 0.8]\n" +
         extra;
}

int run_quiet(const std::string& config, const std::string& out, bool resume = false, bool force = false) {
  CorrectnetOptions o;
  o.config = config;
  o.out = out;
  o.resume = resume;
  o.force = force;
  o.progress = false;
  o.quiet = true;
  return run_correctnet(o);
}

/// Every number of a results file that does not depend on time or machine.
struct Numbers {
  std::vector<std::vector<double>> v;
  std::vector<std::vector<std::int64_t>> i;
  bool operator==(const Numbers&) const = default;
};
Numbers numbers(const std::string& path) {
  Numbers n;
  H5::H5File f(path, H5F_ACC_RDONLY);
  for (const char* b : {"baseline", "lipschitz"}) {
    H5::Group g = f.openGroup(std::string("search/") + b);
    for (const char* d : {"reward", "accuracy", "extra_parameters", "extra_macs"}) n.v.push_back(h5::read_doubles(g, d, path));
    n.i.push_back(h5::read_ints(g, "done", path));
    n.i.push_back(h5::read_ints(g, "rl_best", path));
  }
  for (const char* v : {"baseline", "lipschitz", "compensated", "both"}) {
    for (const char* p : {"p0000", "p0001"}) {
      H5::Group g = f.openGroup(std::string("variants/") + v + "/points/" + p);
      n.v.push_back(h5::read_doubles(g, "accuracy", path));
      n.v.push_back(h5::read_doubles(g, "loss", path));
    }
    n.i.push_back(h5::read_ints(f.openGroup(std::string("variants/") + v), "placement", path));
  }
  return n;
}

struct Threads {
  int saved = omp_get_max_threads();
  explicit Threads(int n) { omp_set_num_threads(n); }
  ~Threads() { omp_set_num_threads(saved); }
};

}  // namespace

TEST_CASE("correctnet config: errors name the file and the key, and existing results stay untouched") {
  test::ScratchDir dir("correctnet-errors");
  const std::string out = dir.file("keep.h5");
  test::write_text(out, "not a results file");
  const auto before = test::read_bytes(out);
  const std::string m = dir.file("m.h5"), d = dir.file("d_{split}.h5");
  auto check = [&](const std::string& text, const std::string& want) {
    CAPTURE(want);
    test::write_text(dir.file("c.toml"), text);
    const std::string e = test::error_of([&] { run_quiet(dir.file("c.toml"), out, false, true); });
    CHECK(e.find(want) != std::string::npos);
    CHECK(e.rfind(dir.file("c.toml") + ":", 0) == 0);
    CHECK(e.find('\n') == std::string::npos);
    CHECK(test::read_bytes(out) == before);
  };
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  const std::string base = study_config(m, d);
  check(study_config(m, d, "[compensatoin]\nx = 1\n"), "compensatoin: unknown key (did you mean 'compensation'?)");
  check(replace(base, "ranks = \"4\"", "ranks = \"4,x\""), "compensation.ranks");
  check(replace(base, "ranks = \"4\"", "ranks = \"4\"\nvariation_key = \"rram.sigma\""), "compensation.variation_key");
  check(replace(base, "chips = 2", "chipz = 2"), "search.chipz: unknown key (did you mean 'chips'?)");
  check(replace(base, "beta = 1e-3", "beta = -1"), "lipschitz.beta");
  check(replace(base, "episodes = 6", "episodes = 0"), "agent.episodes");
  check(replace(base, "epochs = 1\nbatch_size", "epochz = 1\nbatch_size"), "train.epochz: unknown key");
  check(replace(base, "\"rram.sigma_prog\" = [0.0, 0.8]", "\"rram.sigma_pro\" = [0.0]"), "sweep.rram.sigma_pro");
  check(base, "m.h5");  // the model file does not exist
}

TEST_CASE("correctnet: a tiny study writes every stage, overheads, search and determinism") {
  test::ScratchDir dir("correctnet-run");
  const std::string data = test::small_dataset(dir);
  const std::string model = test::small_mlp_model(dir.file("mlp.h5"));
  test::write_text(dir.file("c.toml"), study_config(model, data));
  const std::string out1 = dir.file("one.h5"), out2 = dir.file("two.h5");
  {
    Threads t(1);
    REQUIRE(run_quiet(dir.file("c.toml"), out1) == 0);
  }
  {
    Threads t(2);
    REQUIRE(run_quiet(dir.file("c.toml"), out2) == 0);
  }
  // 1 vs 2 threads: every number bit-identical.
  const Numbers a = numbers(out1);
  CHECK(a == numbers(out2));

  for (const char* stage : {".lipschitz.h5", ".compensated.h5", ".both.h5"})
    CHECK(std::filesystem::exists(dir.file(std::string("one") + stage)));
  H5::H5File f(out1, H5F_ACC_RDONLY);
  CHECK(h5::attr_string(f.openGroup("/"), "format", out1) == "aimc-correctnet");
  // The MLP has two sites (after each hidden ReLU: 256 and 128 features), one block size: 4 placements.
  const auto c = h5::read_ints(f.openGroup("sites"), "c", out1);
  REQUIRE(c == std::vector<std::int64_t>{256, 128});
  for (const char* b : {"baseline", "lipschitz"}) {
    CAPTURE(b);
    H5::Group g = f.openGroup(std::string("search/") + b);
    const auto done = h5::read_ints(g, "done", out1);
    REQUIRE(done.size() == 4);
    for (auto x : done) CHECK(x == 1);
    const auto reward = h5::read_doubles(g, "reward", out1), params = h5::read_doubles(g, "extra_parameters", out1);
    // placement k = (a0, a1) in lexicographic order; a rank-4 block on c features has 2 c 4 + c parameters
    const double p0 = 2 * 256 * 4 + 256, p1 = 2 * 128 * 4 + 128;
    CHECK(params == std::vector<double>{0, p1, p0, p0 + p1});
    // the agent's best is scored by the table, and no better than the exhaustive optimum
    const auto rl = h5::read_ints(g, "rl_best", out1);
    REQUIRE(rl.size() == 2);
    const double rl_reward = h5::attr_double(g, "rl_best_reward", out1);
    CHECK(rl_reward == reward[std::size_t(rl[0] * 2 + rl[1])]);
    CHECK(rl_reward <= h5::attr_double(g, "exhaustive_best_reward", out1));
    CHECK(h5::attr_double(g, "exhaustive_best_reward", out1) == *std::max_element(reward.begin(), reward.end()));
  }
  // The compensated variants' overheads are those of their placements.
  for (const char* v : {"compensated", "both"}) {
    H5::Group g = f.openGroup(std::string("variants/") + v);
    const auto pl = h5::read_ints(g, "placement", out1);
    const long long want = (pl[0] ? 2 * 256 * 4 + 256 : 0) + (pl[1] ? 2 * 128 * 4 + 128 : 0);
    CHECK(h5::attr_int(g, "extra_parameters", out1) == want);
    auto m = nets::load_model(dir.file(std::string("one.") + v + ".h5"));
    long long blocks = 0;
    for (std::size_t i = 0; i < m.net.size(); ++i) blocks += m.net.layer(i).spec().kind == "compensation";
    CHECK(blocks == (pl[0] != 0) + (pl[1] != 0));
    // Blocks were trained for fixed DAC full scales; the model records one per analog layer (the
    // evaluation configures the chip with them, mapping.input_range = "model").
    if (blocks > 0) {
      REQUIRE(m.meta.hwa.input_ranges.size() == 3);
      for (const auto& [name, range] : m.meta.hwa.input_ranges) CHECK(range > 0);
    }
  }
  // The baseline variant is the model file, untouched.
  CHECK(h5::attr_int(f.openGroup("variants/baseline"), "extra_parameters", out1) == 0);

  // Stopped after a few jobs (the Scheduler's AIMC_STOP_AFTER_JOBS) and resumed: the same numbers.
  const std::string out3 = dir.file("three.h5");
  ::setenv("AIMC_STOP_AFTER_JOBS", "5", 1);
  CHECK_THROWS_AS(run_quiet(dir.file("c.toml"), out3), Error);
  ::unsetenv("AIMC_STOP_AFTER_JOBS");
  REQUIRE(run_quiet(dir.file("c.toml"), out3, true) == 0);
  CHECK(numbers(out3) == a);
  // Without --resume or --force an existing run is not touched.
  const auto bytes = test::read_bytes(out3);
  CHECK(test::error_of([&] { run_quiet(dir.file("c.toml"), out3); }).find("--resume") != std::string::npos);
  CHECK(test::read_bytes(out3) == bytes);
}
