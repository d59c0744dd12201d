// Text targets: TOML configs of every command, and campaign journals.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <sstream>

#include "core/config.hpp"
#include "experiments/campaign.hpp"
#include "experiments/hardnn.hpp"
#include "experiments/mc.hpp"
#include "experiments/onchip.hpp"
#include "experiments/snr.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace aimc::fuzz {
namespace {

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string join_lines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& l : v) s += l + "\n";
  return s;
}

std::vector<Bytes> load_seeds(const std::vector<fs::path>& dirs, const std::string& ext) {
  std::vector<fs::path> files;
  for (const auto& d : dirs) {
    if (!fs::is_directory(d)) continue;
    for (const auto& e : fs::directory_iterator(d))
      if (e.path().extension() == ext) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());  // directory order is not portable; the seed list must be
  std::vector<Bytes> out;
  for (const auto& f : files) out.push_back(read_file(f));
  if (out.empty()) throw std::runtime_error("fuzz: no seed files *" + ext + " found");
  return out;
}

// ---------------------------------------------------------------------------------------------
// TOML configs

std::vector<Bytes> g_configs;
std::vector<std::string> g_config_keys;  // every key and table header of the seeds

const std::vector<std::string>& headers() {
  static const std::vector<std::string> h = {
      "[model]", "[data]", "[mc]", "[sweep]", "[mapping]", "[rram]", "[pcm]", "[dac]", "[adc]", "[sense_amp]", "[sram_qs]",
      "[sram_is]", "[sram_qr]", "[mosfet]", "[hardnn]", "[snr]", "[qs]", "[is]", "[qr]", "[accumulation]",
      "[layer.0.rram]", "[layer.1.adc]", "[layer.4294967304.adc]", "[layer.-1.dac]", "[layer.x.rram]", "[layer.0]",
      "[layer]", "[[mc]]", "[sweep.rram]", "[rram.sigma_prog]", "[\"\"]", "[a.b.c.d.e]"};
  return h;
}

void mutate_config(Rng& rng, std::string& text) {
  if (rng.chance(0.15)) {  // byte level
    std::vector<std::string> tokens = nasty_toml_values();
    tokens.insert(tokens.end(), {"=", "\n", "[", "]", "\"", "'''", "\"\"\"", "#", ".", ",", "\\", "\n[sweep]\n"});
    mutate_bytes(rng, text, tokens);
    return;
  }
  auto lines = split_lines(text);
  const int ops = 1 + int(rng.below(3));
  for (int k = 0; k < ops; ++k) {
    const std::size_t at = rng.below(lines.size() + 1);
    auto eq_line = [&]() -> std::string* {  // a random "key = value" line
      std::vector<std::size_t> c;
      for (std::size_t i = 0; i < lines.size(); ++i)
        if (lines[i].find('=') != std::string::npos && lines[i][0] != '#') c.push_back(i);
      return c.empty() ? nullptr : &lines[c[rng.below(c.size())]];
    };
    switch (rng.below(9)) {
      case 0:
      case 1:
      case 2:
        if (auto* l = eq_line()) *l = l->substr(0, l->find('=') + 1) + " " + rng.pick(nasty_toml_values());
        break;
      case 3:  // a valid key with a nasty value, possibly in another table
        lines.insert(lines.begin() + long(at), rng.pick(g_config_keys) + " = " + rng.pick(nasty_toml_values()));
        break;
      case 4:
        lines.insert(lines.begin() + long(at), rng.pick(headers()));
        break;
      case 5:
        if (!lines.empty()) lines.erase(lines.begin() + long(rng.below(lines.size())));
        break;
      case 6:  // splice a line of another seed
        {
          const auto other = split_lines(rng.pick(g_configs));
          if (!other.empty()) lines.insert(lines.begin() + long(at), rng.pick(other));
        }
        break;
      case 7:  // a sweep axis over a random key
        lines.push_back("[sweep]");
        lines.push_back("\"" + rng.pick(g_config_keys) + "\" = [" + rng.pick(nasty_toml_values()) + ", " +
                        rng.pick(nasty_toml_values()) + "]");
        break;
      default:
        if (!lines.empty()) lines.erase(lines.begin() + long(rng.below(lines.size())), lines.end());
    }
  }
  text = join_lines(lines);
}

void setup_config(const Env& env) {
  if (!g_configs.empty()) return;
  g_configs = load_seeds({env.corpus / "config", env.source_dir / "configs"}, ".toml");
  std::vector<std::string> keys;
  for (const auto& c : g_configs) {
    std::string table;
    for (const auto& l : split_lines(c)) {
      if (l.empty() || l[0] == '#') continue;
      if (l[0] == '[') {
        table = l.substr(1, l.find(']') - 1);
        continue;
      }
      auto eq = l.find('=');
      if (eq == std::string::npos) continue;
      std::string k = l.substr(0, eq);
      while (!k.empty() && k.back() == ' ') k.pop_back();
      keys.push_back(k);
      if (!table.empty() && k[0] != '"') keys.push_back(table + "." + k);
    }
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  g_config_keys = keys;
}

void execute_config(const fs::path& input) {
  const ConfigFile f = load_config(input.string());
  // Each campaign parser gets the same document; a rejection by one must not hide a crash in the next.
  try {
    const auto c = experiments::parse_mc_config(f);
    for (std::size_t p = 0; p < std::min<std::size_t>(c.points(), 64); ++p) (void)c.analog_at(p);
  } catch (const Error&) {
  }
  try {
    (void)experiments::parse_hardnn_config(f);
  } catch (const Error&) {
  }
  try {
    (void)experiments::parse_onchip_config(f);
  } catch (const Error&) {
  }
  (void)experiments::parse_snr_config(f);
}

// ---------------------------------------------------------------------------------------------
// Journals

constexpr std::size_t kJournalRecord = 5;  // an mc campaign with one analog layer

std::vector<Bytes> g_journals;

std::string journal_line(Rng& rng, std::size_t record) {
  char buf[64];
  std::string l = std::to_string(rng.below(4)) + " " + std::to_string(rng.below(64));
  for (std::size_t i = 0; i < record; ++i) {
    std::snprintf(buf, sizeof buf, " %a", double(rng.below(1000)) / 7.0);
    l += buf;
  }
  return l + " end";
}

void generate_journal(Rng& rng, const fs::path& dir) {
  std::string text;
  if (rng.chance(0.5) && !g_journals.empty()) {
    text = rng.pick(g_journals);
  } else {
    const std::size_t n = rng.below(6);
    for (std::size_t i = 0; i < n; ++i) text += journal_line(rng, rng.chance(0.9) ? kJournalRecord : rng.below(9)) + "\n";
  }
  std::vector<std::string> tokens = nasty_toml_values();
  tokens.insert(tokens.end(), {" ", "end", " end", "\n", "\r\n", std::string(1, '\0'), "0x1p+1024", "-0x1p-1075",
                               "18446744073709551615", "-18446744073709551616", "1e99999", "0x", "+", "-",
                               std::string(100000, '7'), "\xef\xbb\xbf"});
  if (rng.chance(0.7)) {  // token-level: replace one field of one line
    auto lines = split_lines(text);
    if (!lines.empty()) {
      auto& l = lines[rng.below(lines.size())];
      std::vector<std::string> f;
      std::istringstream in(l);
      for (std::string w; in >> w;) f.push_back(w);
      if (!f.empty()) f[rng.below(f.size())] = rng.pick(tokens);
      if (rng.chance(0.2) && !f.empty()) f.pop_back();
      l.clear();
      for (const auto& w : f) l += (l.empty() ? "" : " ") + w;
      text = join_lines(lines);
      if (rng.chance(0.2)) text.resize(rng.below(text.size() + 1));  // torn last line
    }
  } else {
    mutate_bytes(rng, text, tokens);
  }
  write_file(dir / "input.journal", text);
}

void execute_journal(const fs::path& input) {
  for (std::size_t record : {kJournalRecord, std::size_t{1}, std::size_t{0}}) {
    experiments::Journal::replay(input.string(), record, [&](const experiments::Job&, std::span<const double> r) {
      if (r.size() != record)
        throw Finding("Journal::replay passed a record of " + std::to_string(r.size()) + " values, expected " +
                      std::to_string(record));
    });
  }
}

}  // namespace

Target config_target() {
  Target t;
  t.name = "config";
  t.ext = "toml";
  t.what = "load_config + parse_mc_config / parse_hardnn_config / parse_onchip_config / parse_snr_config";
  t.setup = setup_config;
  t.generate = [](Rng& rng, const fs::path& dir) {
    std::string text = rng.pick(g_configs);
    mutate_config(rng, text);
    write_file(dir / "input.toml", text);
  };
  t.execute = execute_config;
  return t;
}

Target journal_target() {
  Target t;
  t.name = "journal";
  t.ext = "journal";
  t.what = "experiments::Journal::replay";
  t.setup = [](const Env& env) {
    if (g_journals.empty() && fs::is_directory(env.corpus / "journal"))
      g_journals = load_seeds({env.corpus / "journal"}, ".journal");
  };
  t.generate = generate_journal;
  t.execute = execute_journal;
  return t;
}

}  // namespace aimc::fuzz
