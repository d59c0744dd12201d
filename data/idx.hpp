#pragma once
/// Reader for IDX files, the format of the MNIST family (LeCun et al., "The MNIST database",
/// http://yann.lecun.com/exdb/mnist/, section "File formats"): a big-endian header
///   magic = 0x00 0x00 <type> <rank>, then <rank> 32-bit big-endian dimension sizes,
/// followed by the data in row-major order. Only the unsigned-byte type (0x08) is read, which is
/// what every MNIST-like data set uses.
///
/// Files may be gzip-compressed or plain; which one is decided by the content (zlib's gzread
/// passes plain files through), not by the file name. A file is read whole or not at all: a bad
/// header, a truncated file, bytes after the data or a corrupt gzip stream throw aimc::Error with
/// a one-line message "<path>: <problem>". As with gzip -d, bytes after the end of a complete gzip
/// stream that do not start another gzip member are ignored (zlib discards them); the IDX content
/// itself is always checked for exact length.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace aimc::data {

/// IDX type byte for unsigned 8-bit data.
inline constexpr std::uint8_t idx_type_ubyte = 0x08;
/// Largest data size read (bytes). Far above any MNIST-like set (Fashion-MNIST train: 47 MB), it
/// keeps a corrupt header from requesting an absurd allocation and keeps sizes within int range.
inline constexpr std::size_t idx_max_data_bytes = std::size_t{1} << 31;

/// No limit on the items read (read_idx's max_items).
inline constexpr std::size_t idx_all_items = std::size_t(-1);

/// An unsigned-byte IDX array: dims[0] is the item count the header declares, data is row-major and
/// holds the first min(dims[0], max_items) items.
struct IdxArray {
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> data;
};

/// Reads an unsigned-byte IDX file of the given rank (1 for labels: magic 0x00000801; 3 for images:
/// magic 0x00000803). Every dimension must be non-zero and the data size at most idx_max_data_bytes.
/// With max_items below the declared count only the header and the first max_items items are read
/// and checked (a campaign evaluating 100 test images and calibrating on 256 training images does not
/// decompress the other 69,644): truncation before that point is an error, the rest of the file and
/// the gzip trailer are not read. Otherwise the whole file is read and checked as described above.
IdxArray read_idx(const std::string& path, int rank, std::size_t max_items = idx_all_items);

/// A stack of greyscale images as stored in an IDX file.
struct IdxImages {
  std::size_t count = 0;  ///< images the header declares
  int rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  ///< min(count, max_items) * rows * cols bytes, image-major, then row-major
};

/// Reads an IDX image file (magic 0x00000803), the first max_items images (read_idx). Image sides
/// above 4096 pixels are rejected as insane.
IdxImages read_idx_images(const std::string& path, std::size_t max_items = idx_all_items);

/// Reads an IDX label file (magic 0x00000801).
std::vector<std::uint8_t> read_idx_labels(const std::string& path);

}  // namespace aimc::data
