// aimc_fuzz: seeded mutation fuzzing of every parser that reads user files (tests/fuzz/README.md).
//
//   aimc_fuzz [TARGET...|all] [--seconds S] [--max-inputs N] [--seed K] [--work DIR] [--findings DIR]
//             [--aimc PATH] [--timeout S]
//   aimc_fuzz TARGET --replay DIR_OR_FILE      (in-process, no fork: the sanitizer report shows directly)
//
// Every input runs in a forked child (a process-level target execs the aimc CLI), so a crash is
// recorded and the run goes on. Exit status: 0 when no target had a finding, 1 otherwise.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <cstring>
#include <exception>
#include <algorithm>
#include <map>
#include <typeinfo>

#include <hdf5.h>

#include "core/error.hpp"
#include "tests/fuzz/fuzz.hpp"

// The sanitizer defaults the fuzzer relies on: a huge allocation becomes std::bad_alloc (a finding of
// its own kind) instead of an abort, leaks are not checked per child (the child leaves with _exit),
// and a sanitizer report exits with a code no parser uses.
extern "C" const char* __asan_default_options() {
  return "allocator_may_return_null=1:max_allocation_size_mb=3072:detect_leaks=0:exitcode=86:"
         "handle_abort=1";
}
extern "C" const char* __ubsan_default_options() { return "print_stacktrace=1:halt_on_error=1:exitcode=86"; }

namespace aimc::fuzz {
namespace {

std::uint64_t hash(const std::string& s) {  // FNV-1a, for per-target streams
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::vector<Target> all_targets() {
  return {config_target(), journal_target(), idx_target(), array_target(), model_target(), h5read_target(),
          resume_target(), onnx_target()};
}

constexpr int kExitOk = 0, kExitUnexpected = 2;

/// Runs execute() and maps the outcome to the child's exit code.
int run_in_process(const Target& t, const fs::path& input) {
  try {
    t.execute(input);
    return kExitOk;
  } catch (const aimc::Error&) {
    return kExitOk;
  } catch (const Finding& e) {
    std::fprintf(stderr, "FINDING: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FINDING: %s escaped: %s\n", typeid(e).name(), e.what());
  } catch (...) {
    std::fprintf(stderr, "FINDING: a non-std exception escaped\n");
  }
  return kExitUnexpected;
}

/// The first stack frame of a sanitizer report outside the sanitizer runtime ("fn file:line"), for
/// grouping findings.
std::string first_frame(const std::string& log, const std::string& must_contain = "") {
  std::size_t p = 0;
  while ((p = log.find("#", p)) != std::string::npos) {
    const auto e = log.find('\n', p);
    const std::string line = log.substr(p, e - p);
    p = e;
    const auto in = line.find(" in ");
    if (line.size() < 2 || !std::isdigit(static_cast<unsigned char>(line[1])) || in == std::string::npos) continue;
    if (line.find("libsanitizer") != std::string::npos || line.find("__interceptor") != std::string::npos) continue;
    if (!must_contain.empty() && (line.find(must_contain) == std::string::npos ||
                                  line.find("/tests/fuzz/") != std::string::npos))
      continue;
    return line.substr(in + 4);
  }
  return "";
}

struct Outcome {
  bool finding = false;
  std::string kind, where;  ///< kind: crash / sanitizer / exception / timeout / internal-error; where: first frame
  bool upstream = false;    ///< a crash inside libhdf5 on a byte-corrupted file (reported, not failed on)
};

Outcome classify(const Target& t, int status, const std::string& log, bool byte_level) {
  Outcome o;
  // "WARNING: AddressSanitizer failed to allocate N bytes" is not a report: with allocator_may_return_null
  // a malloc of a size decoded from a corrupted file returns NULL, and libhdf5 (the only C allocator on
  // these paths; aimc's own allocations go through operator new, where a failure is a fatal report) then
  // fails cleanly. Whether the run kept the contract is judged by its exit below.
  std::string rest;
  for (std::size_t p = 0; p < log.size();) {
    const std::size_t e = std::min(log.find('\n', p), log.size());
    const std::string line = log.substr(p, e - p);
    if (line.find("WARNING: AddressSanitizer failed to allocate") == std::string::npos) rest += line + '\n';
    p = e + 1;
  }
  const bool sanitizer = rest.find("Sanitizer") != std::string::npos || rest.find("runtime error:") != std::string::npos;
  if (WIFSIGNALED(status)) {
    o.finding = true;
    o.kind = WTERMSIG(status) == SIGALRM ? "timeout" : std::string("signal ") + strsignal(WTERMSIG(status));
  } else if (sanitizer) {
    o.finding = true;
    o.kind = "sanitizer";
  } else if (t.argv) {
    const int rc = WEXITSTATUS(status);
    if (rc != 0 && rc != 1) {
      o.finding = true;
      o.kind = rc == 3 ? "internal-error" : "exit " + std::to_string(rc);
    }
  } else if (WEXITSTATUS(status) != kExitOk) {
    o.finding = true;
    o.kind = WEXITSTATUS(status) == kExitUnexpected ? "exception" : "exit " + std::to_string(WEXITSTATUS(status));
  }
  if (o.finding) {
    // Grouped by the first frame in aimc's sources (the caller that passed the bad input on), and
    // labelled when the report's first frame is inside libhdf5.
    const std::string top = first_frame(log);
    o.where = first_frame(log, AIMC_SOURCE_DIR "/");
    if (o.where.empty()) o.where = top;
    if (top.find("libhdf5") != std::string::npos) {
      o.kind += " (first frame in libhdf5)";
      // A semantic mutation leaves a valid HDF5 file, so a crash there is aimc's (e.g. a short buffer);
      // a byte-corrupted file that crashes libhdf5's own decoder is an upstream bug aimc cannot catch.
      o.upstream = byte_level;
      if (o.upstream) o.kind += ", byte-corrupted file: upstream";
    }
    if (o.where.empty()) {
      auto p = log.find("FINDING: ");
      if (p == std::string::npos) p = log.find("internal error: ");
      if (p != std::string::npos) o.where = log.substr(p, log.find('\n', p) - p);
    }
  }
  return o;
}

/// Runs one input in a child process; stdout and stderr go to `log`.
int run_child(const Target& t, const fs::path& input, const fs::path& log, int timeout_s) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fuzz: fork failed");
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    alarm(unsigned(timeout_s));
    if (t.argv) {
      std::vector<std::string> args = t.argv(input);
      std::vector<char*> a;
      for (auto& s : args) a.push_back(s.data());
      a.push_back(nullptr);
      setenv("ASAN_OPTIONS", "allocator_may_return_null=1:max_allocation_size_mb=3072:detect_leaks=0:exitcode=86", 1);
      setenv("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=86", 1);
      setenv("OMP_NUM_THREADS", "1", 1);
      execv(a[0], a.data());
      std::perror("fuzz: execv");
      _exit(127);
    }
    const int rc = run_in_process(t, input);
    std::fflush(nullptr);
    _exit(rc);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

fs::path input_in(const Target& t, const fs::path& dir) { return dir / ("input." + t.ext); }

/// libhdf5 alone on an HDF5 file, in a forked child limited to timeout_s: open it, visit every link,
/// open each object and iterate its attributes; no aimc code runs. True when the child did not come
/// back (a hang or a crash inside libhdf5), which makes a timeout or crash of a target on the same
/// byte-corrupted file libhdf5's, not aimc's (seen: a corrupt file on which listing the root group
/// does not return, in h5py and h5dump as well).
bool libhdf5_alone_fails(const fs::path& path, int timeout_s) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fuzz: fork failed");
  if (pid == 0) {
    const int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    alarm(unsigned(timeout_s));
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
      H5Lvisit(
          f, H5_INDEX_NAME, H5_ITER_INC,
          [](hid_t g, const char* name, const H5L_info_t* info, void*) -> herr_t {
            if (info->type != H5L_TYPE_HARD) return 0;
            const hid_t id = H5Oopen(g, name, H5P_DEFAULT);
            if (id < 0) return 0;
            H5Aiterate2(id, H5_INDEX_NAME, H5_ITER_INC, nullptr,
                        [](hid_t, const char*, const H5A_info_t*, void*) -> herr_t { return 0; }, nullptr);
            H5Oclose(id);
            return 0;
          },
          nullptr);
      H5Fclose(f);
    }
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFSIGNALED(status);
}

/// libhdf5 alone opens and walks a fuzzed file in milliseconds; a probe that has not returned after
/// this many seconds hangs (keeps a hang from costing a second full input timeout of the budget).
constexpr int kProbeTimeout = 3;

struct Options {
  std::vector<std::string> targets;
  double seconds = 30;
  long long max_inputs = 1000000;
  std::uint64_t seed = 1;
  int timeout = 20;
  fs::path work = "fuzz-work", findings = "fuzz-findings", aimc, replay;
};

int fuzz_target(const Target& t, const Options& o, const Env& env) {
  const fs::path base = o.work / t.name;
  const fs::path gen = base / "gen", run = base / "run";
  const auto t0 = std::chrono::steady_clock::now();
  if (t.setup) t.setup(env);
  std::map<std::string, int> groups;  // kind + first frame -> count
  long long tried = 0, findings = 0, upstream = 0;
  const std::uint64_t stream = o.seed ^ hash(t.name);
  for (; tried < o.max_inputs; ++tried) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >= o.seconds) break;
    fs::remove_all(gen);
    fs::create_directories(gen);
    Rng rng(stream + 0x9e3779b97f4a7c15ull * std::uint64_t(tried));
    t.generate(rng, gen);
    // execute() may rewrite its input (a resumed campaign does): run a copy, keep the original.
    fs::remove_all(run);
    fs::copy(gen, run, fs::copy_options::recursive);
    const fs::path log = base / "child.log";
    const int status = run_child(t, input_in(t, run), log, o.timeout);
    const std::string text = fs::exists(log) ? read_file(log) : "";
    const bool byte_level = fs::exists(gen / "mutation.txt") && read_file(gen / "mutation.txt") == "byte-level\n";
    Outcome out = classify(t, status, text, byte_level);
    if (!out.finding) continue;
    if (!out.upstream && byte_level && t.ext == "h5" && WIFSIGNALED(status) &&
        libhdf5_alone_fails(input_in(t, gen), std::min(o.timeout, kProbeTimeout))) {
      out.upstream = true;
      out.kind += " (libhdf5 alone hangs or crashes on the file), byte-corrupted file: upstream";
    }
    if (out.upstream) ++upstream;
    else ++findings;
    const std::string group = out.kind + " | " + out.where;
    const fs::path keep = o.findings / (t.name + "-" + std::to_string(tried));
    if (groups[group]++ < 3) {  // the first three inputs of each kind of finding are kept
      fs::create_directories(o.findings);
      fs::remove_all(keep);
      fs::copy(gen, keep, fs::copy_options::recursive);
      write_file(keep / "report.txt", text);
      std::printf("  finding %s input %lld: %s\n    at %s\n    saved %s; reproduce: aimc_fuzz %s --replay %s\n",
                  t.name.c_str(), tried, out.kind.c_str(), out.where.c_str(), keep.c_str(), t.name.c_str(),
                  keep.c_str());
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("fuzz %-8s seed %llu: %lld inputs in %.1f s, %lld findings, %lld libhdf5 crashes or hangs on corrupt files "
              "(%zu distinct)\n", t.name.c_str(), (unsigned long long)o.seed, tried, secs, findings, upstream,
              groups.size());
  for (const auto& [g, n] : groups) std::printf("    %5d x %s\n", n, g.c_str());
  std::fflush(stdout);
  return findings ? 1 : 0;
}

int replay(const Target& t, const Options& o, const Env& env) {
  if (t.setup) t.setup(env);
  const fs::path input = fs::is_directory(o.replay) ? input_in(t, o.replay) : o.replay;
  if (t.argv) {
    const fs::path log = o.work / t.name / "replay.log";
    fs::create_directories(log.parent_path());
    const int status = run_child(t, input, log, o.timeout);
    const std::string text = read_file(log);
    std::fputs(text.c_str(), stdout);
    const Outcome out = classify(t, status, text, false);
    std::printf("replay %s: %s\n", input.c_str(), out.finding ? out.kind.c_str() : "ok (returned or aimc::Error)");
    return out.finding ? 1 : 0;
  }
  try {
    t.execute(input);
    std::printf("replay %s: ok (returned)\n", input.c_str());
  } catch (const aimc::Error& e) {
    std::printf("replay %s: ok (aimc::Error: %s)\n", input.c_str(), e.what());
  } catch (const std::exception& e) {
    std::printf("replay %s: FINDING: %s escaped: %s\n", input.c_str(), typeid(e).name(), e.what());
    return 1;
  }
  return 0;  // a crash or sanitizer report ends the process before this line
}

int main_impl(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("fuzz: " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--seconds") o.seconds = std::stod(value());
    else if (a == "--max-inputs") o.max_inputs = std::stoll(value());
    else if (a == "--seed") o.seed = std::stoull(value());
    else if (a == "--timeout") o.timeout = std::stoi(value());
    else if (a == "--work") o.work = value();
    else if (a == "--findings") o.findings = value();
    else if (a == "--aimc") o.aimc = value();
    else if (a == "--replay") o.replay = value();
    else if (!a.empty() && a[0] == '-') throw std::runtime_error("fuzz: unknown option " + a);
    else o.targets.push_back(a);
  }
  std::vector<Target> all = all_targets();
  if (o.targets.empty() || (o.targets.size() == 1 && o.targets[0] == "all")) {
    o.targets.clear();
    for (const auto& t : all) o.targets.push_back(t.name);
  }
  o.work = fs::absolute(o.work);
  o.findings = fs::absolute(o.findings);
  Env env;
  env.source_dir = AIMC_SOURCE_DIR;
  env.corpus = env.source_dir / "tests" / "fuzz" / "corpus";
  env.work = o.work;
  env.aimc = o.aimc.empty() ? fs::path(AIMC_BINARY_DIR) / "aimc" : fs::absolute(o.aimc);
  int rc = 0;
  for (const auto& name : o.targets) {
    const Target* t = nullptr;
    for (const auto& c : all) if (c.name == name) t = &c;
    if (!t) {
      std::string names;
      for (const auto& c : all) names += " " + c.name;
      throw std::runtime_error("fuzz: unknown target '" + name + "' (targets:" + names + ")");
    }
    fs::create_directories(o.work / t->name);
    rc |= o.replay.empty() ? fuzz_target(*t, o, env) : replay(*t, o, env);
  }
  return rc;
}

}  // namespace
}  // namespace aimc::fuzz

int main(int argc, char** argv) {
  try {
    return aimc::fuzz::main_impl(argc, argv);
  } catch (const aimc::Error& e) {
    std::fprintf(stderr, "aimc_fuzz: setup failed: %s\n", e.what());
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "aimc_fuzz: %s\n", e.what());
  }
  return 2;
}
