#pragma once
/// Files that survive kills, power loss, full disks and a second run on the same output: the one writer
/// every results and model file goes through, and the lock that keeps two runs off one results file.
#include <functional>
#include <string>
#include <string_view>

namespace H5 {
class H5File;
}

namespace aimc {

/// Replaces `path` whole with the bytes `data`: writes `path.tmp-<pid>`, fsyncs it, renames it over
/// `path` and fsyncs the directory, so that neither a kill nor a power loss can leave a partial or empty
/// file under the final name. On any failure (disk full, file-size limit, permissions) the temporary file
/// is removed, an existing `path` is left byte-identical, and Error names `path` and the reason.
void replace_file(const std::string& path, std::string_view data);

/// Builds an HDF5 file in memory through `fill` and replaces `path` with it (replace_file). Building in
/// memory keeps HDF5's own I/O errors (and the messages its destructors print on them) out of the
/// picture: the only disk write is ours.
void replace_h5(const std::string& path, const std::function<void(H5::H5File&)>& fill);

/// Writes all of `data` to `fd` (a short write continues with the rest, EINTR retries). On failure
/// Error("<path>: <what>: <reason>").
void write_all(int fd, std::string_view data, const std::string& path, const std::string& what);

/// fsync(2) of an open descriptor; Error naming `path` on failure.
void sync_fd(int fd, const std::string& path);

/// An exclusive lock on `path.lock` held for the object's lifetime (flock, non-blocking): a second
/// process asking for the same lock fails at once with an Error naming `path` and the holder's pid. The
/// lock file is removed when the lock is released. Locks are per host (flock on a local file system).
class FileLock {
 public:
  /// `what` names the kind of file in the error ("results file").
  FileLock(const std::string& path, std::string_view what);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  std::string lock_path_;
  int fd_ = -1;
};

}  // namespace aimc
