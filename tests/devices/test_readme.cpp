// devices/README.md lists every parameter table of this folder. The tables are generated from the code
// (aimc::markdown_table, one table per parameter struct, plus the technology presets side by side);
// this test fails when the README's copy differs from the code, and writes the current tables to
// <build>/devices_param_tables.md so they can be pasted back.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/params.hpp"
#include "devices/adc.hpp"
#include "devices/dac.hpp"
#include "devices/mosfet.hpp"
#include "devices/pulse_synapse.hpp"
#include "devices/mpc.hpp"
#include "devices/pcm.hpp"
#include "devices/snr_chain.hpp"
#include "devices/rram.hpp"
#include "devices/sense_amp.hpp"
#include "devices/sram_compute.hpp"
#include "devices/technology.hpp"
#include "devices/variation.hpp"

using namespace aimc;
using namespace aimc::devices;

namespace {

/// | parameter | unit | <preset>... | source |: the value of every Technology parameter in every preset.
std::string presets_table() {
  std::vector<Technology> ts;
  for (const auto& n : technology_names()) ts.push_back(technology(n));
  std::string t = "| parameter | unit |";
  std::string rule = "|---|---|";
  for (const auto& x : ts) {
    t += " " + x.name + " |";
    rule += "---|";
  }
  t += " source |\n" + rule + "---|\n";
  for (const auto& p : Technology::params()) {
    t += "| `" + std::string(p.name) + "` | " + std::string(p.unit) + " |";
    for (const auto& x : ts) t += " " + param_text(x, p) + " |";
    t += " " + std::string(p.source) + " |\n";
  }
  return t;
}

std::vector<std::pair<std::string, std::string>> tables() {
  return {
      {"RramParams", markdown_table<RramParams>()},
      {"PcmParams", markdown_table<PcmParams>()},
      {"DacParams", markdown_table<DacParams>()},
      {"AdcParams", markdown_table<AdcParams>()},
      {"MpcParams", markdown_table<MpcParams>()},
      {"AdcEnergyParams", markdown_table<AdcEnergyParams>()},
      {"SenseAmpParams", markdown_table<SenseAmpParams>()},
      {"Technology (65nm defaults)", markdown_table<Technology>()},
      {"Technology presets", presets_table()},
      {"ProcessVariation", markdown_table<ProcessVariation>()},
      {"QsParams", markdown_table<QsParams>()},
      {"IsParams", markdown_table<IsParams>()},
      {"QrParams", markdown_table<QrParams>()},
      {"MosfetParams", markdown_table<MosfetParams>()},
      {"MosfetUpdateParams", markdown_table<MosfetUpdateParams>()},
      {"RramPulseParams", markdown_table<RramPulseParams>()},
  };
}

}  // namespace

TEST_CASE("devices: README parameter tables match the code") {
  std::ostringstream out;
  for (const auto& [name, table] : tables()) out << "Parameters (`" << name << "`):\n\n" << table << "\n";
  std::ofstream(std::string(AIMC_BINARY_DIR) + "/devices_param_tables.md") << out.str();

  std::ifstream in(std::string(AIMC_SOURCE_DIR) + "/devices/README.md");
  REQUIRE(in.good());
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string readme = buf.str();
  for (const auto& [name, table] : tables()) {
    INFO("devices/README.md lacks the current table of " << name << " (regenerated in " << AIMC_BINARY_DIR
                                                         << "/devices_param_tables.md):\n"
                                                         << table);
    CHECK(readme.find(table) != std::string::npos);
  }
}
