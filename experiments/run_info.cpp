#include "experiments/run_info.hpp"

#include <omp.h>
#include <unistd.h>

#include <climits>

#include "core/error.hpp"
#include "nets/model_io.hpp"

namespace aimc::experiments {

std::string hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

void write_run_info(H5::Group& root, const RunInfo& r) {
  h5::set_attr(root, "format", r.format);
  h5::set_attr(root, "format_version", r.format_version);
  h5::set_attr(root, "aimc_version", AIMC_VERSION);
  h5::set_attr(root, "git_commit", AIMC_GIT_COMMIT);
  h5::set_attr(root, "status", r.status);
  h5::set_attr(root, "start_time", r.start_time);
  h5::set_attr(root, "end_time", r.end_time);
  h5::set_attr(root, "host", hostname());
  h5::set_attr(root, "threads", std::int64_t(r.threads));
  h5::set_attr(root, "mpi_ranks", std::int64_t(r.ranks));
  h5::set_attr(root, "resumed", std::int64_t(r.resumed));
  h5::set_attr(root, "config_path", r.config_path);
  h5::set_attr(root, "seed", r.seed);
  h5::write_strings(root, "config", {r.config_text}, "the config, verbatim");
}

RunInfo begin_run(const std::string& format, const ConfigFile& config, std::int64_t seed, int ranks) {
  RunInfo r;
  r.format = format;
  r.start_time = nets::utc_now();
  r.threads = omp_get_max_threads();
  r.ranks = ranks;
  r.config_path = config.path;
  r.config_text = config.text;
  r.seed = seed;
  return r;
}

void resume_run(const H5::Group& root, const std::string& path, const std::string& what, RunInfo& info) {
  if (!h5::has_attr(root, "format") || h5::attr_string(root, "format", path) != info.format)
    throw Error(path + ": --resume: not an " + what + " results file");
  // Another aimc version may draw other random numbers for the same keys (0.2.0 changed the normal
  // generator), so its trials and this run's would not add up to one run's result.
  if (h5::has_attr(root, "aimc_version") && h5::attr_string(root, "aimc_version", path) != AIMC_VERSION)
    throw Error(path + ": --resume: the file was written by aimc " + h5::attr_string(root, "aimc_version", path) +
                ", this is aimc " + AIMC_VERSION + " (its random numbers may differ; use --force to start over)");
  const auto text = h5::read_strings(root, "config", path);
  if (text.size() != 1 || text[0] != info.config_text)
    throw Error(path + ": --resume: the file was written with a different config than " + info.config_path +
                " (use another --out, or --force to start over)");
  info.start_time = h5::attr_string(root, "start_time", path);
  const std::int64_t resumed = h5::attr_int(root, "resumed", path);
  if (resumed < 0 || resumed >= INT_MAX)
    throw Error(path + ": --resume: attribute 'resumed' = " + std::to_string(resumed) + ", expected 0.." +
                std::to_string(INT_MAX - 1));
  info.resumed = int(resumed) + 1;
}

}  // namespace aimc::experiments
