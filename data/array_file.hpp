#pragma once
/// Users' data sets from array files, laid out as PyTorch users hold them: a float array `x` of shape
/// (N, C, H, W) or (N, features) and an integer label array `y` of shape (N,).
///
/// Two containers:
/// * NumPy `.npz` (np.savez and np.savez_compressed: a zip archive, members stored or deflated, zip64
///   as numpy writes it) holding `x.npy` and `y.npy`. The .npy header is parsed here ("NEP 1: a simple
///   file format for NumPy arrays", numpy/lib/format.py): magic "\x93NUMPY", version 1.0, 2.0 or 3.0,
///   a Python dict literal with exactly the keys 'descr', 'fortran_order' and 'shape'. Only
///   little-endian C-order arrays are read: x dtype '<f4' or '<f8' (converted to float), y any
///   integer dtype ('|i1', '|u1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8').
/// * HDF5 (`.h5`, `.hdf5`) with datasets `x` (float class, 4 or 8 bytes, any byte order) and `y`
///   (integer class) in the root group, every value written (no dataset left to fill values).
///
/// aimc keeps images channel-last (core/tensor.hpp), so sample i of an (N, C, H, W) array becomes row
/// i of Dataset::x with feature index (h * W + w) * C + c, and Shape{C, H, W}; an (N, F) array gives
/// Shape{F, 1, 1} with the features in file order. classes = max label + 1.
///
/// Strict, like the IDX reader: a missing array, wrong rank, dtype or byte order, Fortran order,
/// zero or mismatched sizes, truncated or trailing data, a corrupt zip or deflate stream, NaN or
/// infinity in x (or an f8 value beyond float range), a label outside [0, array_max_label] each throw
/// aimc::Error with one line "<path>: <array>: <problem>". Sizes are checked before anything is
/// allocated from them.
#include <cstddef>
#include <string>

#include "data/dataset.hpp"

namespace aimc::data {

/// Largest label accepted (labels are class indices; 65536 classes is far beyond any classifier here).
inline constexpr long long array_max_label = 65535;
/// Largest number of elements of x (and of y) read: keeps every feature count within int (Shape) and a
/// corrupt header from choosing the allocation. 2^31 - 1 floats are 8 GiB.
inline constexpr std::size_t array_max_elements = (std::size_t{1} << 31) - 1;
/// Largest .npy header (bytes). numpy itself refuses headers above 10000 bytes unless told otherwise.
inline constexpr std::size_t npy_max_header_bytes = std::size_t{1} << 20;

/// Loads `x` and `y` from a `.npz`, `.h5` or `.hdf5` file (chosen by the extension, case-insensitive;
/// any other extension is an error naming it). The Dataset's name is the path.
Dataset load_array_file(const std::string& path);

}  // namespace aimc::data
