#pragma once
/// Reading an SRAM compute model (devices/sram_compute.hpp) from a config section: the circuit, the
/// technology (a `technology = "65nm"` preset, then individual overrides) and the process variation
/// share one flat section, since their parameter names are unique across the three tables. Used by
/// `aimc mc` ([sram_qs], [sram_is], [sram_qr]) and `aimc snr` ([qs], [is], [qr]).
#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/params.hpp"
#include "devices/sram_compute.hpp"
#include "experiments/run_info.hpp"

namespace aimc::experiments {

/// Keys of the section: every circuit, technology and variation parameter plus "technology".
template <class P>
std::vector<std::string> sram_section_keys() {
  std::vector<std::string> all = param_names<P>();
  for (auto&& v : {param_names<devices::Technology>(), param_names<devices::ProcessVariation>()})
    all.insert(all.end(), v.begin(), v.end());
  all.push_back("technology");
  return all;
}

/// Reads section `sec` of `file` on top of `m`. `rejected` lists keys that are valid parameter names
/// but set elsewhere by this command, each with the reason given in the error.
template <class P>
devices::SramModel<P> read_sram_section(const toml::table& t, const std::string& file, const std::string& sec,
                                        devices::SramModel<P> m,
                                        std::initializer_list<std::pair<const char*, const char*>> rejected = {}) {
  for (auto [k, why] : rejected)
    if (t.contains(k)) fail_at(file, sec + "." + k, why);
  check_keys(t, sram_section_keys<P>(), file, sec);
  if (const auto* n = t.get("technology")) {
    if (!n->is_string()) fail_at(file, sec + ".technology", "expected a preset name string");
    try {
      m.tech = devices::technology(*n->value<std::string>());
    } catch (const Error& e) {
      fail_at(file, sec + ".technology", e.what());
    }
  }
  // Each table reads its own keys.
  const auto circ = param_names<P>(), tech = param_names<devices::Technology>(),
             var = param_names<devices::ProcessVariation>();
  toml::table tc, tt, tv;
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    auto in = [&](const std::vector<std::string>& names) { return std::find(names.begin(), names.end(), key) != names.end(); };
    if (in(circ)) tc.insert(key, v);
    else if (in(tech)) tt.insert(key, v);
    else if (in(var)) tv.insert(key, v);
  }
  m.circuit = read_params<P>(tc, file, sec, m.circuit);
  m.tech = read_params<devices::Technology>(tt, file, sec, m.tech);
  m.var = read_params<devices::ProcessVariation>(tv, file, sec, m.var);
  return m;
}

/// The `/resolved` attributes of an SRAM model: "<section>.<name>" for every circuit, technology and
/// variation parameter.
template <class P>
void write_resolved_sram(H5::Group& g, const std::string& section, const devices::SramModel<P>& m) {
  write_resolved(g, section, m.circuit);
  write_resolved(g, section, m.tech);
  write_resolved(g, section, m.var);
}

}  // namespace aimc::experiments
