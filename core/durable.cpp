#include "core/durable.hpp"

#include <H5Cpp.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/error.hpp"

namespace aimc {

namespace fs = std::filesystem;

namespace {

std::string sys_error(const std::string& path, const std::string& what, int err) {
  return path + ": " + what + ": " + std::strerror(err);
}

void sync_directory_of(const std::string& path) {
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) throw Error(sys_error(dir.string(), "cannot open the directory to sync it", errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems (e.g. certain network mounts) do not sync directories; the rename stands.
  if (rc != 0 && err != EINVAL && err != ENOTSUP) throw Error(sys_error(dir.string(), "cannot sync the directory", err));
}

}  // namespace

void write_all(int fd, std::string_view data, const std::string& path, const std::string& what) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(sys_error(path, what, n < 0 ? errno : EIO));
    done += std::size_t(n);
  }
}

void sync_fd(int fd, const std::string& path) {
  if (::fsync(fd) != 0) throw Error(sys_error(path, "cannot sync to disk", errno));
}

void replace_file(const std::string& path, std::string_view data) {
  const std::string tmp = path + ".tmp-" + std::to_string(long(::getpid()));
  const std::string what = "cannot write (existing file left unchanged)";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(sys_error(path, what, errno));
  try {
    write_all(fd, data, path, what);
    sync_fd(fd, path);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(sys_error(path, what, err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(sys_error(path, what, err));
  }
  sync_directory_of(path);
}

void replace_h5(const std::string& path, const std::function<void(H5::H5File&)>& fill) {
  H5::Exception::dontPrint();
  std::vector<char> image;
  try {
    // The core driver keeps the whole file in memory; no backing store, so closing writes nothing.
    H5::FileAccPropList fapl;
    fapl.setCore(1 << 20, false);
    H5::H5File f(path + ".in-memory", H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, fapl);
    fill(f);
    f.flush(H5F_SCOPE_GLOBAL);
    const ssize_t n = H5Fget_file_image(f.getId(), nullptr, 0);
    if (n < 0) throw Error(path + ": cannot build the HDF5 file image");
    image.resize(std::size_t(n));
    if (H5Fget_file_image(f.getId(), image.data(), image.size()) != n)
      throw Error(path + ": cannot build the HDF5 file image");
    f.close();
  } catch (const H5::Exception& e) {
    throw Error(path + ": HDF5 error: " + e.getDetailMsg());
  }
  replace_file(path, std::string_view(image.data(), image.size()));
}

FileLock::FileLock(const std::string& path, std::string_view what) : lock_path_(path + ".lock") {
  for (int attempt = 0; attempt < 3; ++attempt) {
    fd_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(sys_error(lock_path_, "cannot create the lock file", errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      std::string holder(32, '\0');
      const ssize_t n = ::pread(fd_, holder.data(), holder.size() - 1, 0);
      holder.resize(n > 0 ? std::size_t(n) : 0);
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
      ::close(fd_);
      fd_ = -1;
      if (err == EWOULDBLOCK)
        throw Error(path + ": " + std::string(what) + " is in use by another aimc run" +
                    (holder.empty() ? std::string() : " (pid " + holder + ")") + "; wait for it to finish, or remove " +
                    lock_path_ + " if no such run is alive");
      throw Error(sys_error(lock_path_, "cannot lock", err));
    }
    // The holder before us may have removed the file between our open and our flock: then we hold a lock
    // on a file nobody else can see. Lock only the file that is at the path now.
    struct stat a {}, b {};
    if (::fstat(fd_, &a) == 0 && ::stat(lock_path_.c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
      const std::string pid = std::to_string(long(::getpid())) + "\n";
      if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, pid.data(), pid.size(), 0);
      return;
    }
    ::close(fd_);
    fd_ = -1;
  }
  throw Error(lock_path_ + ": cannot lock (the lock file keeps changing)");
}

FileLock::~FileLock() {
  if (fd_ < 0) return;
  ::unlink(lock_path_.c_str());  // while still holding the lock: the next run creates a fresh file
  ::close(fd_);
}

}  // namespace aimc
