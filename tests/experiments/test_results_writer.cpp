// The one results writer (experiments/results_writer.hpp): how it claims --out, the skeleton it writes
// around a campaign's content, and its --resume checks. The campaigns' schemas are checked against
// docs/results.md by test_results_schema.py; kill and resume by the process-level tests.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../data/helpers.hpp"
#include "core/error.hpp"
#include "core/hdf5io.hpp"
#include "experiments/results_writer.hpp"

using namespace aimc;
using namespace aimc::experiments;

namespace {

RunInfo info_for(const std::string& config_text) {
  RunInfo info;
  info.format = "aimc-test";
  info.start_time = "2026-01-01T00:00:00Z";
  info.config_path = "c.toml";
  info.config_text = config_text;
  info.seed = 42;
  return info;
}

}  // namespace

TEST_CASE("results writer: claiming --out names the command, the file and the way out") {
  test::ScratchDir dir("results-writer-claim");
  const std::string out = dir.file("r.h5");
  CHECK_THROWS_WITH_AS(ResultsWriter({.command = "mc", .path = ""}), "mc: --out must name the results file", Error);
  {
    ResultsWriter w({.command = "mc", .path = out});
    CHECK_FALSE(w.resuming());
    CHECK(std::filesystem::exists(out + ".lock"));
    // A second claim while the first holds the lock fails (FileLock), before it reads anything.
    CHECK_THROWS_WITH_AS(ResultsWriter({.command = "mc", .path = out}), doctest::Contains(out.c_str()), Error);
  }
  CHECK_FALSE(std::filesystem::exists(out + ".lock"));
  std::ofstream(out) << "x";
  const std::string resumable = out + ": results file exists; pass --resume to continue it or --force to overwrite it";
  CHECK_THROWS_WITH_AS(ResultsWriter({.command = "mc", .path = out}), resumable.c_str(), Error);
  const std::string not_resumable = out + ": results file exists; pass --force to overwrite it";
  CHECK_THROWS_WITH_AS(ResultsWriter({.command = "snr", .path = out, .resumable = false, .resume = true}),
                       not_resumable.c_str(), Error);
  CHECK(ResultsWriter({.command = "mc", .path = out, .resume = true}).resuming());
  CHECK_FALSE(ResultsWriter({.command = "mc", .path = out, .force = true}).resuming());
  CHECK_FALSE(ResultsWriter({.command = "snr", .path = out, .resumable = false, .force = true}).resuming());
  // Non-lead MPI ranks take no lock: rank 0 holds it for the run.
  ResultsWriter lead({.command = "mc", .path = out, .resume = true});
  CHECK(ResultsWriter({.command = "mc", .path = out, .resume = true, .lead = false}).resuming());
}

TEST_CASE("results writer: run info, campaign attributes, /resolved and groups, --resume reads them back") {
  test::ScratchDir dir("results-writer-file");
  const std::string out = dir.file("r.h5");
  std::vector<std::string> order;
  {
    ResultsWriter w({.command = "test", .path = out});
    RunInfo info = info_for("[a]\nb = 1\n");
    ResultsContent content;
    content.attributes = [&](H5::Group& root) {
      order.push_back("attributes");
      CHECK(h5::has_attr(root, "format"));  // the run info comes first
      h5::set_attr(root, "campaign_attr", std::int64_t(7));
    };
    content.resolved = [&](H5::Group& res) {
      order.push_back("resolved");
      h5::set_attr(res, "a.b", std::string("1"));
    };
    content.groups = [&](H5::Group& root) {
      order.push_back("groups");
      H5::Group g = h5::group(root, "points");
      h5::write(g, "x", std::vector<double>{1.5, 2.5}, "1", "test values");
    };
    w.write(info, content);
  }
  CHECK(order == std::vector<std::string>{"attributes", "resolved", "groups"});
  {
    H5::H5File f = h5::open_read(out);
    H5::Group root = f.openGroup("/");
    CHECK(h5::attr_string(root, "format", out) == "aimc-test");
    CHECK(h5::attr_int(root, "seed", out) == 42);
    CHECK(h5::attr_int(root, "campaign_attr", out) == 7);
    CHECK(h5::read_strings(root, "config", out) == std::vector<std::string>{"[a]\nb = 1\n"});
    CHECK(h5::attr_string(h5::open_group(root, "resolved", out), "a.b", out) == "1");
    CHECK(h5::read_doubles(h5::open_group(root, "points", out), "x", out) == std::vector<double>{1.5, 2.5});
  }
  // --resume: the same config continues the file (start time kept, one more resume) and the reader
  // sees the campaign's groups; another config or another format is refused before the reader runs.
  ResultsWriter w({.command = "test", .path = out, .resume = true});
  REQUIRE(w.resuming());
  RunInfo again = info_for("[a]\nb = 1\n");
  again.start_time = "later";
  std::vector<double> x;
  w.read("aimc test", again, [&](const H5::Group& root) { x = h5::read_doubles(h5::open_group(root, "points", out), "x", out); });
  CHECK(x == std::vector<double>{1.5, 2.5});
  CHECK(again.start_time == "2026-01-01T00:00:00Z");
  CHECK(again.resumed == 1);
  bool called = false;
  RunInfo other = info_for("[a]\nb = 2\n");
  CHECK_THROWS_WITH_AS(w.read("aimc test", other, [&](const H5::Group&) { called = true; }),
                       doctest::Contains("written with a different config"), Error);
  RunInfo wrong = info_for("[a]\nb = 1\n");
  wrong.format = "aimc-mc";
  const std::string not_mc = out + ": --resume: not an aimc Monte Carlo results file";
  CHECK_THROWS_WITH_AS(w.read("aimc Monte Carlo", wrong, [&](const H5::Group&) { called = true; }), not_mc.c_str(), Error);
  CHECK_FALSE(called);
}
