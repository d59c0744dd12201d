// `aimc hardnn` parameters: the [hardnn] table, its list-valued keys and the config reader.
#include "experiments/hardnn.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "experiments/hardnn_detail.hpp"

namespace aimc::experiments {

std::span<const Param<HardnnParams>> HardnnParams::params() {
  using P = HardnnParams;
  static const Param<P> t[] = {
      {"error_model", &P::error_model, "",
       "error in one fmap element per inference: bit flip of the fp32 value, bit flip of its B-bit fixed-point "
       "code (scaled to the layer's observed maximum magnitude), a random value in the layer's observed range, or "
       "output-referred analog noise of the configured hardware",
       "HarDNN (Mahmoud et al., arXiv:2002.09786) error models; nets/fault.hpp",
       {},
       {"bitflip_fixed", "bitflip_fp32", "random_value", "analog"}},
      {"bits", &P::bits, "1", "fixed-point bits B of bitflip_fixed (two's complement, sign included)",
       "8-bit activations of integer inference", between(2, 32)},
      {"margin", &P::margin, "1", "error margin e of each fmap's mismatch probability",
       "n = z^2 p(1-p)/e^2, p = 0.5 (Leveugle et al., DATE 2009, Eq. 1)", {0.0, 0.5, true, false}},
      {"confidence", &P::confidence, "1", "confidence level of the sample size and of the reported intervals", "95%",
       {0.0, 1.0, true, true}},
      {"max_injections", &P::max_injections, "1", "cap on the injections per fmap", "campaign cost bound",
       between(1, 10000000)},
      {"seed", &P::seed, "1", "master seed of every random stream", "any", between(0, 2147483647)},
      {"propagation", &P::propagation, "",
       "how a fault reaches the logits: incremental (only what it changes, nets/delta.hpp) | full (suffix recomputed)",
       "issue 21; full is the test oracle", {}, {"incremental", "full"}},
      {"batch", &P::batch, "1", "injections per job (rows of one suffix forward); also the journal granularity",
       "speed/resume granularity trade-off", between(1, 100000)},
      {"layers", &P::layers, "", "layers injected: \"all\" or Dense/Conv2d ordinals (0 = first), e.g. \"0,2\"",
       "HarDNN evaluates every conv layer's fmaps"},
      {"rank_by", &P::rank_by, "",
       "protection order: vulnerability V_f (HarDNN) or V_f per MAC (the fmap's mismatch probability: greedy coverage per cost)",
       "HarDNN: selective protection by relative vulnerability", {}, {"vulnerability", "per_mac"}},
      {"top_k", &P::top_k, "1", "k of the top-k overlap between a heuristic's and the campaign's ranking",
       "top-k agreement of rankings", between(1, 1000000)},
      {"verify_injections", &P::verify_injections, "1",
       "injections of the protection verification campaign, per protection level (0: no verification)",
       "binomial CI half-width ~ sqrt(R(1-R)/n)", between(0, 100000000)},
      {"verify_overheads", &P::verify_overheads, "",
       "protection levels verified: comma-separated MAC overhead budgets in (0, 1]", "HarDNN reports coverage at 10-50% added computation"},
      {"loss_cap", &P::loss_cap, "nat",
       "per-sample cross-entropy cap: logits that are not finite (an fp32 exponent flip) count as this loss",
       "keeps mean delta-loss finite; e^-100 is below any float probability", positive()},
      {"snr_samples", &P::snr_samples, "1",
       "analog error model: images over which each layer's output-referred noise is measured", "as mc.snr_samples",
       between(1, 10000)},
  };
  return t;
}

namespace {
std::vector<double> parse_overheads(const std::string& s) {
  std::vector<double> v;
  std::size_t i = 0;
  while (i <= s.size()) {
    const std::size_t j = std::min(s.find(',', i), s.size());
    const std::string tok = s.substr(i, j - i);
    char* end = nullptr;
    const double x = std::strtod(tok.c_str(), &end);
    if (tok.empty() || end == tok.c_str() || *end != '\0' || !(x > 0 && x <= 1))
      throw Error("parameter 'hardnn.verify_overheads' = \"" + s +
                  "\": expected comma-separated overheads in (0, 1], e.g. \"0.1,0.3,0.5\"");
    v.push_back(x);
    i = j + 1;
  }
  return v;
}
}  // namespace

namespace hardnn_detail {
std::vector<int> parse_ordinals(const std::string& s) {
  std::vector<int> v;
  if (s == "all") return v;
  std::size_t i = 0;
  while (i <= s.size()) {
    const std::size_t j = std::min(s.find(',', i), s.size());
    const std::string tok = s.substr(i, j - i);
    char* end = nullptr;
    const long x = std::strtol(tok.c_str(), &end, 10);
    if (tok.empty() || *end != '\0' || x < 0 || x > 100000)
      throw Error("parameter 'hardnn.layers' = \"" + s + "\": expected \"all\" or Dense/Conv2d ordinals, e.g. \"0,2\"");
    if (std::find(v.begin(), v.end(), int(x)) != v.end())
      throw Error("parameter 'hardnn.layers' = \"" + s + "\": ordinal " + tok + " listed twice");
    v.push_back(int(x));
    i = j + 1;
  }
  std::sort(v.begin(), v.end());
  return v;
}
}  // namespace hardnn_detail

void HardnnParams::check() const {
  parse_overheads(verify_overheads);
  hardnn_detail::parse_ordinals(layers);
}

HardnnConfig parse_hardnn_config(const ConfigFile& f) {
  HardnnConfig c;
  c.file = f;
  const std::string& file = f.path;
  const auto& root = f.root;
  std::vector<std::string> sections = {"model", "data", "hardnn"};
  sections.insert(sections.end(), analog_section_names().begin(), analog_section_names().end());
  check_keys(root, sections, file, "");
  auto sub = [&](const char* name) { return subtable(root, name, file, ""); };
  read_model_and_data(root, file, "inject into", c.model, c.data);
  if (const auto* t = sub("hardnn")) c.hardnn = read_params<HardnnParams>(*t, file, "hardnn");
  c.overheads = parse_overheads(c.hardnn.verify_overheads);
  read_analog_sections(root, file, c.analog);
  if (c.hardnn.error_model == "analog") {
    try {
      c.analog.validate();
    } catch (const Error& e) {
      throw Error(file + ": " + e.what());
    }
  }
  return c;
}

}  // namespace aimc::experiments
