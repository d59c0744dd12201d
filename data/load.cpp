#include "data/load.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "core/error.hpp"
#include "data/array_file.hpp"
#include "data/cifar10.hpp"
#include "data/fashion_mnist.hpp"

namespace aimc::data {

namespace {

Dataset fashion_mnist(const std::string& split, const std::string& dir, std::size_t max_items) {
  return load_fashion_mnist(split, dir, max_items);
}
Dataset cifar10(const std::string& split, const std::string& dir, std::size_t) { return load_cifar10(dir, split); }

/// The first max_items samples of d (all of them if it has fewer).
Dataset cut(Dataset d, std::size_t max_items) {
  if (max_items < std::size_t(d.size())) return d.head((long long)max_items);
  return d;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::span<const NamedDataset> named_datasets() {
  static const NamedDataset table[] = {
      {"fashion-mnist", "Fashion-MNIST from Debian's dataset-fashion-mnist (IDX files)", &fashion_mnist},
      {"cifar10", "CIFAR-10 binary batches from a directory or $AIMC_CIFAR10_DIR", &cifar10},
  };
  return table;
}

Dataset load_dataset(const std::string& name_or_path, const std::string& split, const std::string& dir,
                     std::size_t max_items) {
  for (const auto& d : named_datasets()) {
    if (name_or_path == d.name) return cut(d.load(split, dir, max_items), max_items);
  }
  std::string path = name_or_path;
  for (std::size_t at = 0; (at = path.find(split_placeholder, at)) != std::string::npos; at += split.size()) {
    path.replace(at, split_placeholder.size(), split);
  }
  const std::string ext = lower(std::filesystem::path(path).extension().string());
  if (ext == ".npz" || ext == ".h5" || ext == ".hdf5") return cut(load_array_file(path), max_items);
  if (ext == ".bin") {
    Dataset ds = load_cifar10_batches({path});
    ds.name = path;
    return cut(std::move(ds), max_items);
  }
  std::string names;
  for (const auto& d : named_datasets()) names += std::string(d.name) + ", ";
  throw Error("data set '" + name_or_path + "': not a known name and the extension '" + ext +
              "' is not one aimc reads; expected " + names + "or a file ending .npz, .h5, .hdf5 or .bin");
}

}  // namespace aimc::data
