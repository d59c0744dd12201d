#pragma once
/// What every aimc results file (mc, snr, hardnn) records about the run that wrote it, as attributes
/// of the root group plus the config verbatim (docs/results.md, "Common root attributes").
#include <H5Cpp.h>

#include <cstdint>
#include <string>

#include "core/config.hpp"
#include "core/hdf5io.hpp"
#include "core/params.hpp"

namespace aimc::experiments {

struct RunInfo {
  std::string format;          ///< "aimc-mc", "aimc-snr", ...
  std::int64_t format_version = 1;
  std::string status = "running";
  std::string start_time, end_time;  ///< UTC, ISO 8601
  int threads = 1, ranks = 1, resumed = 0;
  std::string config_path, config_text;
  std::int64_t seed = 0;
};

/// Writes format, format_version, aimc_version, git_commit, status, start_time, end_time, host,
/// threads, mpi_ranks, resumed, config_path and seed as attributes of `root`, and the config text as the
/// string dataset "config".
void write_run_info(H5::Group& root, const RunInfo& info);

/// The RunInfo of a run starting now: format, config, seed, start time (UTC), OpenMP threads, MPI ranks.
RunInfo begin_run(const std::string& format, const ConfigFile& config, std::int64_t seed, int ranks);

/// For `--resume`: checks that the file at `path` (root group `root`) has info.format (else "not an
/// <what> results file"), was written by this aimc version (else an error naming both versions) and
/// with exactly info.config_text (else an error naming the config), then takes over its start time
/// and counts this run as one more resume.
void resume_run(const H5::Group& root, const std::string& path, const std::string& what, RunInfo& info);

/// This machine's host name ("unknown" if it cannot be read).
std::string hostname();

/// One string attribute "<section>.<name>" per parameter of a table, with its resolved value.
template <class Obj, class S>
void write_resolved(Obj& g, const std::string& section, const S& s) {
  for (const auto& p : S::params()) h5::set_attr(g, section + "." + std::string(p.name), param_text(s, p));
}

}  // namespace aimc::experiments
