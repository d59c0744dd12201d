#include "experiments/results_writer.hpp"

#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "core/hdf5io.hpp"

namespace aimc::experiments {

ResultsWriter::ResultsWriter(const ResultsClaim& c) : path_(c.path) {
  if (c.path.empty()) throw Error(c.command + ": --out must name the results file");
  // One run per results file: a second run on the same --out fails here, before it reads or writes anything.
  if (c.lead) lock_.emplace(c.path, "results file");
  const bool exists = std::filesystem::exists(c.path);
  if (exists && !c.force && !(c.resumable && c.resume))
    throw Error(c.path + (c.resumable ? ": results file exists; pass --resume to continue it or --force to overwrite it"
                                      : ": results file exists; pass --force to overwrite it"));
  resuming_ = exists && c.resumable && c.resume;
}

void ResultsWriter::write(const RunInfo& info, const ResultsContent& content) const {
  replace_h5(path_, [&](H5::H5File& f) {
    H5::Group root = f.openGroup("/");
    write_run_info(root, info);
    if (content.attributes) content.attributes(root);
    H5::Group res = h5::group(root, "resolved");
    if (content.resolved) content.resolved(res);
    if (content.groups) content.groups(root);
  });
}

void ResultsWriter::read(const std::string& what, RunInfo& info,
                         const std::function<void(const H5::Group& root)>& read) const {
  H5::H5File f = h5::open_read(path_);
  H5::Group root = f.openGroup("/");
  resume_run(root, path_, what, info);
  read(root);
}

void write_model_attributes(H5::Group& root, const McModelParams& model, const McDataParams& data,
                            const std::string& model_name, double model_test_accuracy, double digital_accuracy) {
  h5::set_attr(root, "model_path", model.path);
  h5::set_attr(root, "model_name", model_name);
  h5::set_attr(root, "model_test_accuracy", model_test_accuracy);
  h5::set_attr(root, "dataset", data.dataset);
  h5::set_attr(root, "subset", std::int64_t(data.subset));
  if (std::isfinite(digital_accuracy)) h5::set_attr(root, "digital_accuracy", digital_accuracy);
}

}  // namespace aimc::experiments
