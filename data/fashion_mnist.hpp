#pragma once
/// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747): 28x28 greyscale images of
/// clothing, 10 classes, 60000 training and 10000 test images, stored as IDX files (data/idx.hpp).
/// The files come from Debian's dataset-fashion-mnist package; nothing is ever downloaded.
#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "data/dataset.hpp"

namespace aimc::data {

/// Where Debian's dataset-fashion-mnist package installs the four .gz files.
inline constexpr std::string_view fashion_mnist_debian_dir = "/usr/share/datasets/fashion-mnist";
/// Environment variable that overrides the directory.
inline constexpr std::string_view fashion_mnist_env = "AIMC_FASHION_MNIST_DIR";

/// Class names by label, from the data set's README ("Labels" table).
inline constexpr std::array<std::string_view, 10> fashion_mnist_class_names = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

/// The directory the loader reads: `dir` if non-empty, else $AIMC_FASHION_MNIST_DIR if set and
/// non-empty, else fashion_mnist_debian_dir.
std::string fashion_mnist_dir(const std::string& dir = "");

/// Loads split "train" (files train-*) or "test" (files t10k-*), from <name>.gz or, if that is absent,
/// the uncompressed <name>. Pixels are scaled to [0, 1] as x / 255; shape (1, 28, 28); labels in
/// [0, 10); name "fashion-mnist/<split>". Throws aimc::Error naming the directory tried (and how to
/// install the files) when they are missing, and on any malformed file or image/label mismatch.
/// `max_items`: read only the first max_items images and labels (read_idx; the declared counts are
/// still checked against each other).
Dataset load_fashion_mnist(const std::string& split, const std::string& dir = "",
                           std::size_t max_items = std::size_t(-1));

}  // namespace aimc::data
