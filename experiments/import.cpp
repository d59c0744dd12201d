#include "experiments/import.hpp"

#include <cstdio>
#include <filesystem>
#include <limits>

#include "core/error.hpp"
#include "nets/model_io.hpp"
#include "nets/onnx_import.hpp"

namespace aimc::experiments {

int run_import(const ImportCliOptions& o) {
  if (o.out.empty()) throw Error("import: --out is required");
  std::error_code ec;  // (the throwing overloads would turn an unreadable path into an internal error)
  if (std::filesystem::is_directory(o.out, ec)) throw Error(o.out + ": is a directory; --out must name the model file");
  if (std::filesystem::exists(o.out, ec) && !o.force)
    throw Error(o.out + ": model file exists; pass --force to overwrite it");
  nets::ImportOptions io;
  if (!o.input_shape.empty()) {
    if (o.input_shape.size() != 3)
      throw Error("--input-shape: expected three values C,H,W, got " + std::to_string(o.input_shape.size()));
    for (long long v : o.input_shape)
      if (v < 1 || v > (1 << 20))
        throw Error("--input-shape: " + std::to_string(v) + " is not a whole number in [1, 1048576]");
    io.input_shape = Shape{int(o.input_shape[0]), int(o.input_shape[1]), int(o.input_shape[2])};
  }
  if (o.mean.empty() != o.std.empty()) throw Error("import: --mean and --std go together");
  io.mean = o.mean;
  io.std = o.std;
  nets::ImportedModel m = nets::import_onnx(o.model, io);
  nets::ModelMeta meta;
  meta.name = o.name.empty() ? std::filesystem::path(o.model).stem().string() : o.name;
  meta.dataset = "imported";
  // Not measured by aimc: NaN, so campaigns and plots do not show an accuracy the model never had.
  meta.test_accuracy = std::numeric_limits<double>::quiet_NaN();
  nets::save_model(o.out, m.net, meta);
  std::printf("imported %s (%s, opset %lld): %d ONNX nodes -> %zu aimc nodes\n", o.model.c_str(),
              m.producer.empty() ? "unknown producer" : m.producer.c_str(), m.opset, m.onnx_nodes, m.net.size());
  std::fputs(m.net.summary().c_str(), stdout);
  std::printf("MACs per sample: %lld\nsaved to %s\n", m.net.macs(), o.out.c_str());
  return 0;
}

}  // namespace aimc::experiments
