#include "experiments/run_info.hpp"

#include <unistd.h>

#include "core/error.hpp"

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

ResumeInfo check_resumable(const H5::Group& root, const std::string& path, const std::string& format,
                           const std::string& what, const std::string& config_text, const std::string& config_path) {
  if (!h5::has_attr(root, "format") || h5::attr_string(root, "format", path) != format)
    throw Error(path + ": --resume: not an " + what + " results file");
  const auto text = h5::read_strings(root, "config", path);
  if (text.size() != 1 || text[0] != config_text)
    throw Error(path + ": --resume: the file was written with a different config than " + config_path +
                " (use another --out, or --force to start over)");
  return {h5::attr_string(root, "start_time", path), int(h5::attr_int(root, "resumed", path)) + 1};
}

}  // namespace aimc::experiments
