#pragma once
/// The one results writer of every campaign (`aimc mc`, `aimc hardnn`, `aimc snr`). It claims the
/// output file for the run (the lock against a second run, the exists / --resume / --force rule),
/// rewrites it whole through aimc::replace_h5 (built in memory, temporary file, fsync, rename) with the
/// skeleton every results file shares -- the run info and config (run_info.hpp), the campaign's root
/// attributes, its resolved parameters under /resolved, then its own groups -- and opens it again for
/// --resume after checking format, aimc version and config. Journals, their replay and the MPI gather
/// of job records are the Scheduler's (campaign.hpp), whose flush() calls write(). Schemas:
/// docs/results.md.
#include <H5Cpp.h>

#include <functional>
#include <limits>
#include <optional>
#include <string>

#include "core/durable.hpp"
#include "experiments/campaign_inputs.hpp"
#include "experiments/run_info.hpp"

namespace aimc::experiments {

/// Which file a run writes and what its command line allows.
struct ResultsClaim {
  std::string command;    ///< "mc", "hardnn", "snr": names the command in errors
  std::string path;       ///< --out
  bool resumable = true;  ///< the command has --resume
  bool resume = false;    ///< --resume
  bool force = false;     ///< --force
  bool lead = true;       ///< MPI rank 0: the rank that locks and writes the file
};

/// What a campaign adds to the skeleton of its results file, called in this order. Each may be empty.
struct ResultsContent {
  std::function<void(H5::Group& root)> attributes;    ///< root attributes, after the run info
  std::function<void(H5::Group& resolved)> resolved;  ///< /resolved: write_resolved(...) per section
  std::function<void(H5::Group& root)> groups;        ///< the campaign's groups and datasets
};

class ResultsWriter {
 public:
  /// Claims c.path before anything is read or written: Error "<command>: --out must name the results
  /// file" if it is empty; on the lead rank the lock `<path>.lock` (FileLock: a second run fails at
  /// once); Error if the file exists and neither --resume (when resumable) nor --force was given.
  explicit ResultsWriter(const ResultsClaim& c);
  ResultsWriter(const ResultsWriter&) = delete;
  ResultsWriter& operator=(const ResultsWriter&) = delete;

  const std::string& path() const { return path_; }
  /// True when this run continues the existing file (--resume and the file exists).
  bool resuming() const { return resuming_; }

  /// Replaces the file whole: write_run_info(info), content.attributes, /resolved, content.groups.
  void write(const RunInfo& info, const ResultsContent& content) const;
  /// --resume: opens the file, checks it and takes over its start time and resume count into `info`
  /// (resume_run; `what` names the kind of file in its error), then hands the root group to `read`.
  void read(const std::string& what, RunInfo& info, const std::function<void(const H5::Group& root)>& read) const;

 private:
  std::string path_;
  std::optional<FileLock> lock_;
  bool resuming_ = false;
};

/// The root attributes of a campaign that evaluates a model file (mc, hardnn): model_path, model_name,
/// model_test_accuracy (from the model file), dataset and subset, and digital_accuracy (the model's
/// clean digital accuracy on the evaluated images) when it is finite.
void write_model_attributes(H5::Group& root, const McModelParams& model, const McDataParams& data,
                            const std::string& model_name, double model_test_accuracy,
                            double digital_accuracy = std::numeric_limits<double>::quiet_NaN());

/// What a run of a campaign over a model file (mc, hardnn) holds besides its own state: its config
/// (with `file`, `model` and `data` sections), the results writer, the model file's name and recorded
/// test accuracy, and the run info begun when the run is constructed.
template <class Config>
struct ModelRun {
  ModelRun(const Config& c, const ResultsWriter& f, const nets::ModelMeta& meta, const std::string& format,
           std::int64_t seed, int ranks)
      : cfg(&c), file(&f), model_name(meta.name), info(begin_run(format, c.file, seed, ranks)),
        model_accuracy(meta.test_accuracy) {}
  /// write_model_attributes of this run's model, data and model file.
  void write_model_attributes(H5::Group& root) const {
    experiments::write_model_attributes(root, cfg->model, cfg->data, model_name, model_accuracy, digital_accuracy);
  }

  const Config* cfg;
  const ResultsWriter* file;
  std::string model_name;
  RunInfo info;  ///< status, times, threads, ranks, resumes, config, seed
  double model_accuracy = std::numeric_limits<double>::quiet_NaN();
  /// Clean digital accuracy of the model on the evaluated images (NaN: not measured by this campaign).
  double digital_accuracy = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace aimc::experiments
