#pragma once
/// The one entry point the commands use to get a data set: a built-in name or a user's file.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "data/dataset.hpp"

namespace aimc::data {

/// A data set known by name: the loader of one split from a directory ("" = the set's default).
struct NamedDataset {
  std::string_view name;
  std::string_view what;
  Dataset (*load)(const std::string& split, const std::string& dir, std::size_t max_items);
};

/// The built-in names (one table; load_dataset and error messages read it): "fashion-mnist"
/// (data/fashion_mnist.hpp) and "cifar10" (data/cifar10.hpp).
std::span<const NamedDataset> named_datasets();

/// Placeholder in a path that load_dataset replaces by the split, so one setting names both files of
/// a user's data set: "runs/mydata_{split}.npz" reads runs/mydata_train.npz and runs/mydata_test.npz.
inline constexpr std::string_view split_placeholder = "{split}";

/// Loads a data set:
/// * a name from named_datasets(): that set's `split` ("train" or "test") from `dir` (empty: the
///   set's default directory or environment variable);
/// * otherwise a path (after replacing every "{split}" by `split`; `dir` is not used), by extension,
///   case-insensitive: .npz, .h5, .hdf5 -> load_array_file (data/array_file.hpp); .bin -> one CIFAR-10
///   batch file (load_cifar10_batches). A path without "{split}" is the same file for every split.
/// Anything else is an aimc::Error naming the argument, the extension and the accepted ones.
/// `max_items`: the first max_items samples only (all if the set has fewer). Fashion-MNIST then reads
/// no further into its files (data/idx.hpp); the other formats are read whole and cut.
Dataset load_dataset(const std::string& name_or_path, const std::string& split, const std::string& dir,
                     std::size_t max_items = std::size_t(-1));

}  // namespace aimc::data
