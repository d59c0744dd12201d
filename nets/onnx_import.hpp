#pragma once
/// Import of ONNX models (as written by torch.onnx.export) into an aimc Network graph.
///
/// The file is parsed with ONNX's own protobuf classes (Debian's libonnx-dev), then the graph is walked
/// node by node in its (topological) file order, inferring every shape from the input shape: ONNX's
/// value_info is optional and not trusted. Each supported node becomes at most one aimc node built with
/// make_layer(); nodes whose output does not reach the graph output are dropped, so the graph output is
/// the last aimc node.
///
/// Supported (opsets 7-22): Gemm (alpha = beta = 1, transA = 0), MatMul (with a following Add of a
/// constant folded into the bias), Conv (auto_pad NOTSET), BatchNormalization (inference form), Relu,
/// Clip, MaxPool, AveragePool (ceil_mode 0), GlobalAveragePool, Flatten (axis 1), Reshape to (N, -1) or
/// (N, F), Add of two activations (residual), Concat along channels, Identity and Dropout (wired
/// through), Constant, and the shape arithmetic torch emits for x.view(x.size(0), -1) with a dynamic
/// batch (Shape, Gather, Unsqueeze, Concat on axis 0 of constant integer vectors).
///
/// Layout: ONNX activations are NCHW, aimc's are per-sample HWC. Conv weights (O, I/g, kh, kw) become the
/// crossbar view (kh kw in_c x O) with row (i kw + j) in_c + c (block-diagonal for groups). A (C, H, W)
/// activation flattened by Flatten/Reshape keeps aimc's HWC order, so the rows of the Gemm/MatMul weight
/// that reads it are permuted from ONNX's CHW order (c H W + h W + w) to HWC ((h W + w) C + c); any
/// other consumer of such a flattened tensor whose meaning depends on the order (Concat, BatchNormalization,
/// the graph output) is an error.
///
/// Every problem (unreadable, truncated or non-ONNX file, unsupported operator or attribute value,
/// non-FLOAT weights, dynamic shapes without ImportOptions::input_shape, several graph inputs or
/// outputs) is one aimc::Error line: "<file>: node <index> '<name>' (<op>): <what>".
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nets/network.hpp"

namespace aimc::nets {

struct ImportOptions {
  /// Per-sample input shape (C, H, W) for a model whose input has dynamic or missing dimensions; where
  /// the model declares a dimension too, the two must agree. A flat (N, F) input is (F, 1, 1).
  std::optional<Shape> input_shape;
  /// Per-channel input normalization y = (x - mean_c) / std_c, put first in the graph as a `normalize`
  /// node (so every command applies it): both empty, or C values each (std > 0).
  std::vector<double> mean, std;
};

struct ImportedModel {
  Network net;
  std::string graph_name;  ///< GraphProto name
  std::string producer;    ///< producer_name and producer_version, e.g. "pytorch 1.13.1"
  long long ir_version = 0;
  long long opset = 0;  ///< version of the default ("ai.onnx") operator set
  std::string input_name, output_name;
  int onnx_nodes = 0;  ///< nodes in the ONNX graph
  /// ONNX nodes without an aimc node of their own: "<name> (<op>): <why>", e.g. an Add folded into the
  /// bias of the MatMul before it, a Dropout wired through.
  std::vector<std::string> folded;
};

/// Reads the ONNX model file `path`. Errors name the file and, where one is at fault, the node (index in
/// the graph and name), its operator type and the attribute or input.
ImportedModel import_onnx(const std::string& path, const ImportOptions& options = {});

/// The same from the bytes of a model file; `label` stands for the file in error messages.
ImportedModel import_onnx_bytes(std::string_view bytes, const std::string& label, const ImportOptions& options = {});

}  // namespace aimc::nets
