// HDF5 targets: model files (nets::load_model), results files read back by the h5 helpers and
// resume_run (in process), and `aimc mc --resume` on a mutated results file plus journal (a process).
#include <hdf5.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>

#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "core/random.hpp"
#include "experiments/run_info.hpp"
#include "nets/layer.hpp"
#include "nets/model_io.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace aimc::fuzz {
namespace {

const std::vector<std::string> kHdf5Tokens = {"\x89HDF\r\n\x1a\n", std::string(8, '\xff'), std::string(8, '\0'),
                                              "TREE", "HEAP", "SNOD", "OHDR", "GCOL"};

/// Copies `base` to `out`, then mutates it: semantically through the HDF5 API (75 %) or byte-wise.
void mutate_copy(Rng& rng, const fs::path& base, const fs::path& out, const std::vector<std::string>& words) {
  fs::copy_file(base, out, fs::copy_options::overwrite_existing);
  std::string what;
  if (rng.chance(0.75)) {
    what = mutate_hdf5(rng, out, words);
  } else {
    Bytes b = read_file(out);
    mutate_bytes(rng, b, kHdf5Tokens, 3);
    write_file(out, b);
    what = "byte-level";
  }
  write_file(out.parent_path() / "mutation.txt", what + "\n");
}

// ---------------------------------------------------------------------------------------------
// Model files

std::vector<fs::path> g_models;

nets::LayerSpec spec(std::string kind, std::vector<std::pair<std::string, long long>> args) {
  nets::LayerSpec s{std::move(kind), {}};
  for (auto& [k, v] : args) s.args.emplace_back(std::move(k), v);  // integer attributes (typed since issue 14)
  return s;
}

void save_tiny(const fs::path& path, nets::Network net) {
  Stream s(7, "fuzz.model");
  net.init(s);
  nets::save_model(path.string(), net, {"tiny", "synthetic", 1, 7, 0.5, 0.1, "2026-01-01T00:00:00Z", {}});
}

void setup_model(const Env& env) {
  if (!g_models.empty()) return;
  const fs::path d = env.work / "model";
  fs::create_directories(d);
  {
    nets::Network n(Shape{1, 4, 4});
    n.add(nets::make_layer(spec("flatten", {{"c", 1}, {"h", 4}, {"w", 4}})));
    n.add(nets::make_layer(spec("dense", {{"in", 16}, {"out", 5}})));
    n.add(nets::make_layer(spec("relu", {{"c", 5}, {"h", 1}, {"w", 1}})));
    n.add(nets::make_layer(spec("dense", {{"in", 5}, {"out", 3}})));
    save_tiny(d / "mlp.h5", std::move(n));
  }
  {
    nets::Network n(Shape{1, 6, 6});
    n.add(nets::make_layer(spec("conv2d", {{"in_c", 1}, {"in_h", 6}, {"in_w", 6}, {"out_c", 2}, {"kernel", 3},
                                           {"stride", 1}, {"pad", 1}})));
    n.add(nets::make_layer(spec("maxpool2d", {{"in_c", 2}, {"in_h", 6}, {"in_w", 6}, {"kernel", 2}, {"stride", 2}})));
    n.add(nets::make_layer(spec("avgpool2d", {{"in_c", 2}, {"in_h", 3}, {"in_w", 3}, {"kernel", 1}, {"stride", 1}})));
    n.add(nets::make_layer(spec("flatten", {{"c", 2}, {"h", 3}, {"w", 3}})));
    n.add(nets::make_layer(spec("dense", {{"in", 18}, {"out", 3}})));
    save_tiny(d / "cnn.h5", std::move(n));
  }
  g_models = {d / "mlp.h5", d / "cnn.h5"};
}

const std::vector<std::string> kModelWords = {
    "aimc-model", "format", "format_version", "input_c", "input_h", "input_w", "count", "kind", "in", "out",
    "in_c", "in_h", "in_w", "out_c", "kernel", "stride", "pad", "c", "h", "w", "weight", "bias", "dense", "conv2d",
    "relu", "flatten", "maxpool2d", "avgpool2d", "name", "epochs", "seed"};

void execute_model(const fs::path& input) {
  auto m = nets::load_model(input.string());
  // A model that loads must run: one forward pass on a zero batch.
  Matrix x = Matrix::Zero(2, m.net.input_shape().size());
  (void)m.net.forward(x);
}

// ---------------------------------------------------------------------------------------------
// A tiny Monte Carlo campaign: its results file is the seed of the results targets.

struct Campaign {
  fs::path aimc, dir, config, results;
  std::string config_text;
};
Campaign g_campaign;

Bytes idx_bytes(int rank, std::vector<std::uint32_t> dims, Rng& rng, int values) {
  Bytes b = {0, 0, 8, char(rank)};
  std::size_t n = 1;
  for (auto d : dims) {
    for (int i = 3; i >= 0; --i) b.push_back(char((d >> (8 * i)) & 0xff));
    n *= d;
  }
  for (std::size_t i = 0; i < n; ++i) b.push_back(char(rng.below(std::size_t(values))));
  return b;
}

int run_process(const std::vector<std::string>& args, const fs::path& log) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    if (FILE* f = std::freopen(log.c_str(), "w", stderr)) (void)f;
    if (FILE* f = std::freopen("/dev/null", "w", stdout)) (void)f;
    std::vector<char*> a;
    for (const auto& s : args) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    setenv("OMP_NUM_THREADS", "1", 1);
    execv(a[0], a.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void setup_campaign(const Env& env) {
  if (!g_campaign.results.empty()) return;
  Campaign c;
  c.aimc = env.aimc;
  c.dir = env.work / "campaign";
  fs::create_directories(c.dir / "data");
  Rng rng(11);
  for (const char* split : {"t10k", "train"}) {
    write_file(c.dir / "data" / (std::string(split) + "-images-idx3-ubyte.gz"), gzip(idx_bytes(3, {12, 28, 28}, rng, 256)));
    write_file(c.dir / "data" / (std::string(split) + "-labels-idx1-ubyte.gz"), gzip(idx_bytes(1, {12}, rng, 10)));
  }
  nets::Network n(Shape{1, 28, 28});
  n.add(nets::make_layer(spec("flatten", {{"c", 1}, {"h", 28}, {"w", 28}})));
  n.add(nets::make_layer(spec("dense", {{"in", 784}, {"out", 10}})));
  save_tiny(c.dir / "model.h5", std::move(n));
  c.config = c.dir / "mc.toml";
  c.config_text = "[model]\npath = \"" + (c.dir / "model.h5").string() + "\"\n[data]\nsubset = 6\ncalibration = 6\ndir = \"" +
                  (c.dir / "data").string() +
                  "\"\n[mapping]\ntile_rows = 64\ntile_cols = 64\n[mc]\ntrials = 4\nround = 2\nchunk = 3\n"
                  "snr_samples = 6\n[sweep]\n\"rram.sigma_prog\" = [0.0, 0.1]\n";
  write_file(c.config, c.config_text);
  c.results = c.dir / "base.h5";
  fs::remove(c.results);
  const fs::path log = c.dir / "base.log";
  const int rc = run_process({env.aimc.string(), "--threads", "1", "mc", c.config.string(), "--out", c.results.string(),
                              "--quiet", "--no-progress"},
                             log);
  if (rc != 0 || !fs::exists(c.results))
    throw std::runtime_error("fuzz: the seed campaign failed (exit " + std::to_string(rc) + "): " + read_file(log));
  g_campaign = c;
}

const std::vector<std::string> kResultsWords = {
    "aimc-mc", AIMC_VERSION, "0.1.0", "format", "format_version", "aimc_version", "status", "complete", "running",
    "start_time", "resumed", "config", "points", "p0000", "p0001", "done", "accuracy", "loss", "adc_saturated",
    "adc_conversions", "snr_db", "stopped_by_rule", "summary", "trials"};

/// Every aimc read helper on every object and attribute of the file, then resume_run.
void execute_h5read(const fs::path& input) {
  const std::string path = input.string();
  auto f = h5::open_read(path);
  H5::Group root = f.openGroup("/");
  // Object and attribute names come from the C API (never from aimc code), errors suppressed.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  std::vector<std::string> groups{"/"}, datasets;
  std::pair<std::vector<std::string>*, std::vector<std::string>*> lists(&groups, &datasets);
  H5Lvisit(
      f.getId(), H5_INDEX_NAME, H5_ITER_INC,
      [](hid_t g, const char* name, const H5L_info_t* info, void* data) -> herr_t {
        auto* out = static_cast<std::pair<std::vector<std::string>*, std::vector<std::string>*>*>(data);
        if (info->type != H5L_TYPE_HARD) return 0;
        const hid_t id = H5Oopen(g, name, H5P_DEFAULT);
        if (id < 0) return 0;
        (H5Iget_type(id) == H5I_GROUP ? out->first : out->second)->push_back("/" + std::string(name));
        H5Oclose(id);
        return 0;
      },
      &lists);
  auto attempt = [](auto&& fn) {
    try {
      fn();
    } catch (const Error&) {
    }
  };
  auto attrs_of = [](const H5::H5Object& o) {
    std::vector<std::string> names;
    H5Aiterate2(
        o.getId(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
        [](hid_t, const char* n, const H5A_info_t*, void* d) -> herr_t {
          static_cast<std::vector<std::string>*>(d)->push_back(n);
          return 0;
        },
        &names);
    return names;
  };
  for (const auto& g : groups) {
    attempt([&] {
      H5::Group grp = g == "/" ? root : h5::open_group(root, g.substr(1), path);
      for (const auto& a : attrs_of(grp)) {
        attempt([&] { (void)h5::attr_string(grp, a, path); });
        attempt([&] { (void)h5::attr_double(grp, a, path); });
        attempt([&] { (void)h5::attr_int(grp, a, path); });
      }
    });
  }
  for (const auto& d : datasets) {
    attempt([&] { (void)h5::dims(root, d.substr(1), path); });
    attempt([&] { (void)h5::read_doubles(root, d.substr(1), path); });
    attempt([&] { (void)h5::read_ints(root, d.substr(1), path); });
    attempt([&] { (void)h5::read_strings(root, d.substr(1), path); });
    attempt([&] { (void)h5::read_matrix(root, d.substr(1), path); });
    attempt([&] { (void)h5::read_matrixd(root, d.substr(1), path); });
  }
  experiments::RunInfo info;
  info.format = "aimc-mc";
  info.config_path = g_campaign.config.string();
  info.config_text = g_campaign.config_text;
  experiments::resume_run(root, path, "aimc Monte Carlo", info);
}

/// A journal next to the results file: mostly valid lines for this campaign, some nasty fields.
void write_journal(Rng& rng, const fs::path& path) {
  std::string text;
  const std::size_t n = 1 + rng.below(6);
  for (std::size_t i = 0; i < n; ++i) {
    char buf[64];
    std::string l = std::to_string(rng.chance(0.8) ? rng.below(2) : std::size_t(rng.pick(nasty_ints()))) + " " +
                    std::to_string(rng.chance(0.8) ? rng.below(4) : std::size_t(rng.pick(nasty_ints())));
    for (int k = 0; k < 5; ++k) {
      std::snprintf(buf, sizeof buf, " %a", rng.chance(0.8) ? double(rng.below(100)) / 100.0 : rng.pick(nasty_doubles()));
      l += buf;
    }
    text += l + (rng.chance(0.9) ? " end\n" : "\n");
  }
  if (rng.chance(0.2)) text.resize(rng.below(text.size() + 1));
  write_file(path, text);
}

}  // namespace

Target model_target() {
  Target t;
  t.name = "model";
  t.ext = "h5";
  t.what = "nets::load_model, then one forward pass";
  t.setup = setup_model;
  t.generate = [](Rng& rng, const fs::path& dir) { mutate_copy(rng, rng.pick(g_models), dir / "input.h5", kModelWords); };
  t.execute = execute_model;
  return t;
}

Target h5read_target() {
  Target t;
  t.name = "h5read";
  t.ext = "h5";
  t.what = "every core/hdf5io read helper on every object of a results file, then experiments::resume_run";
  t.setup = setup_campaign;
  t.generate = [](Rng& rng, const fs::path& dir) {
    mutate_copy(rng, g_campaign.results, dir / "input.h5", kResultsWords);
  };
  t.execute = execute_h5read;
  return t;
}

Target resume_target() {
  Target t;
  t.name = "resume";
  t.ext = "h5";
  t.what = "process: aimc mc CONFIG --out MUTATED.h5 --resume (with a mutated journal 30 % of the time)";
  t.setup = setup_campaign;
  t.generate = [](Rng& rng, const fs::path& dir) {
    mutate_copy(rng, g_campaign.results, dir / "input.h5", kResultsWords);
    if (rng.chance(0.3)) write_journal(rng, dir / "input.h5.journal");
  };
  t.argv = [](const fs::path& input) {
    return std::vector<std::string>{g_campaign.aimc.string(), "--threads", "1", "mc", g_campaign.config.string(),
                                    "--out", input.string(), "--resume", "--quiet", "--no-progress"};
  };
  return t;
}

}  // namespace aimc::fuzz
