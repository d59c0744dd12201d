#pragma once
/// CIFAR-10 (Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny Images", tech. report,
/// Univ. Toronto; format on https://www.cs.toronto.edu/~kriz/cifar.html, "Binary version"): 32x32
/// colour images in 10 classes, 50000 training images in data_batch_1..5.bin and 10000 test images in
/// test_batch.bin. Each record is 3073 bytes: the label (0..9), then 1024 red, 1024 green and 1024 blue
/// bytes, each plane row-major 32x32. No Debian package ships it: the user points aimc at the
/// extracted cifar-10-batches-bin directory; nothing is ever downloaded.
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "data/dataset.hpp"

namespace aimc::data {

/// Environment variable naming the directory with the .bin files, used when no directory is given.
inline constexpr std::string_view cifar10_env = "AIMC_CIFAR10_DIR";
/// Bytes per record: 1 label + 3 * 32 * 32 pixels.
inline constexpr std::size_t cifar10_record_bytes = 3073;

/// Class names by label (batches.meta.txt of the binary distribution).
inline constexpr std::array<std::string_view, 10> cifar10_class_names = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

/// Reads CIFAR-10 binary batch files, records in file order: pixels x / 255 in [0, 1], stored
/// channel-last (HWC, core/tensor.hpp), shape (3, 32, 32), 10 classes, name "cifar10". Each file must
/// be a non-empty multiple of 3073 bytes and every label in 0..9; otherwise aimc::Error naming the
/// file (and record).
Dataset load_cifar10_batches(const std::vector<std::string>& files);

/// Loads split "train" (data_batch_1.bin .. data_batch_5.bin) or "test" (test_batch.bin) from `dir`,
/// or, if `dir` is empty, from $AIMC_CIFAR10_DIR. Name "cifar10/<split>". A missing directory or file
/// is an Error naming the path.
Dataset load_cifar10(const std::string& dir, const std::string& split);

}  // namespace aimc::data
