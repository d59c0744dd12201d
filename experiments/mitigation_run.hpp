#pragma once
/// Pieces shared by the mitigation studies that evaluate variants of a network by Monte Carlo
/// (`aimc correctnet`, `aimc denoise`): per-trial records of one evaluation point, their summary with
/// a confidence interval, their HDF5 layout, stage model files reused on --resume, and number lists
/// in config strings.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/hdf5io.hpp"
#include "experiments/mc.hpp"
#include "nets/analog.hpp"
#include "nets/model_io.hpp"

namespace aimc::experiments {

/// Accuracy and loss of each trial (chip or noise instance) of one evaluation point.
struct PointRecords {
  std::vector<double> accuracy, loss;
  std::vector<std::int64_t> done;
  PointRecords() = default;
  explicit PointRecords(int trials);
  int done_count() const;
  void store(std::uint64_t trial, double acc, double loss);  ///< ignored for trial >= trials
};

struct Summary {
  int n = 0;
  double mean, sd, lo, hi;  ///< NaN without trials (sd, lo, hi: without two)
};
/// Mean, sample SD and Student-t CI of the mean (core/stats.hpp) of the completed trials.
Summary summarize(const PointRecords& r, double confidence);

/// Writes accuracy / loss / done of `r` into group g (datasets "accuracy", "loss", "done"); `what`
/// names a trial ("chip", "noise instance").
void write_records(H5::Group& g, const PointRecords& r, const std::string& what);
/// Reads them back for --resume into r (same trial count, else an Error naming `where` in `file`).
void read_records(const H5::Group& g, PointRecords& r, const std::string& file, const std::string& where);

/// The Monte Carlo over chips of one variant at every sweep point of `c`, into group g:
///   g/points/pNNNN  the chip records (write_records) with the point's swept values as attributes;
///   g/summary       trials, accuracy_mean, accuracy_std, accuracy_ci_lo, accuracy_ci_hi per point
///                   (attribute confidence), ready to plot.
/// `points` has one entry per sweep point (c.points()).
void write_sweep_points(H5::Group& g, const McConfig& c, const std::vector<PointRecords>& points);
/// Reads g/points back for --resume (points missing from the file stay empty); `where` names g.
void read_sweep_points(const H5::Group& g, std::vector<PointRecords>& points, const std::string& file,
                       const std::string& where);
/// The 64-bit keys of the chip streams run_trial draws from, Stream(seed, "mc.program" / "mc.read",
/// {trial}) for trials 0..trials-1 (bit patterns as int64), written as /trial_keys/program and read.
struct TrialKeys {
  std::vector<std::int64_t> program, read;
  TrialKeys() = default;
  TrialKeys(int seed, int trials);
  /// Group "trial_keys" of root; `what` names a trial in the descriptions ("chip", "trial").
  void write(H5::Group& root, const std::string& what) const;
};

/// The /sweep group: dataset "axes" (the swept keys in point order, last fastest) and one dataset of
/// values per axis.
void write_sweep_axes(H5::Group& root, const McConfig& c);

/// The chips of several units (a model on one hardware configuration: a variant at a sweep point), ready
/// to run: each unit's calibrated mapping, the digital prefixes of the test inputs (computed once per
/// model and prefix end, shared by the units that have the same), and one reusable device instance per
/// thread and unit. trial(u, t) is run_trial of unit u, chip t: the result depends only on the unit,
/// the chip and mc.seed, never on which thread runs it.
class ChipRunner {
 public:
  struct Unit {
    const nets::Network* net;  ///< must outlive the runner
    nets::AnalogConfig hardware;
    std::string name;          ///< names the unit in errors ("<file>: <name>: ...")
  };
  /// Errors of the mappings name `file` and the unit.
  ChipRunner(const std::vector<Unit>& units, const Matrix& calibration, const Matrix& test_x, const std::string& file);
  TrialResult trial(std::size_t unit, std::uint64_t chip, const VectorI& labels, const McParams& mc);
  std::size_t size() const { return an_.size(); }

 private:
  std::vector<const nets::Network*> net_;
  std::vector<std::unique_ptr<nets::AnalogNetwork>> an_;
  std::map<std::pair<const nets::Network*, std::size_t>, Matrix> prefix_;  // (model, first analog node)
  std::vector<std::unique_ptr<nets::AnalogInstance>> instances_;             // thread-major, then unit
};

/// "p0000", "p0001", ...: the group name of sweep point p.
std::string point_name(std::size_t p);
/// --out without its ".h5": the stem of the study's other files.
std::string stem_of(const std::string& out);
/// A stage's model file: loaded with --resume when it records this config text, else nullopt.
std::optional<nets::LoadedModel> reuse_stage(const std::string& path, const std::string& config_text, bool resume);

/// Comma-separated numbers of config key `key` in `file` (e.g. "0.1, 0.2"): every entry finite and in
/// [lo, hi], at least one; Error naming file and key otherwise.
std::vector<double> parse_number_list(const std::string& s, const std::string& file, const std::string& key,
                                      double lo, double hi);

}  // namespace aimc::experiments
