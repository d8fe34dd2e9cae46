#include "kbert/common/output_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <mutex>
#include <set>

#include "kbert/common/error.hpp"

namespace kbert {
namespace {

namespace fs = std::filesystem;

const std::set<std::string>& known_files() {
  static const std::set<std::string> k = {
      "kbert.json", "config.json",     "model.safetensors", "vocab.txt",  "spm.model",         "tokenizer_config.json",
      "train_log.jsonl", "optimizer.pt", "state.json",      "aux.safetensors", "optimizer.safetensors"};
  return k;
}

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// "x.tmp-123" -> "x" when the suffix is a temporary of write_file_atomically.
std::string strip_tmp_suffix(const std::string& name) {
  const auto p = name.rfind(".tmp-");
  if (p == std::string::npos || !all_digits(name.substr(p + 5))) return name;
  return name.substr(0, p);
}

// "" when every entry of `dir` is something kbert writes, else why not.
std::string foreign_entry(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const fs::file_status st = it->symlink_status();
    if (name == "kg" && fs::is_directory(st)) {
      for (fs::directory_iterator k(it->path(), ec), kend; !ec && k != kend; k.increment(ec))
        if (!fs::is_regular_file(k->symlink_status()))
          return "it holds kg/" + k->path().filename().string() + ", which is not a file kbert writes";
      continue;
    }
    if (!fs::is_regular_file(st) || !is_kbert_entry(name))
      return "it holds '" + name + "', which kbert did not write";
  }
  if (ec) return "cannot list it: " + ec.message();
  return "";
}

// True for a kbert.json that kbert wrote: at most 16 MiB, a JSON object whose "format" is
// "kbert-model". Anything else in a directory makes it someone else's.
bool is_model_spec(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec || size > (std::uintmax_t{16} << 20)) return false;
  std::ifstream in(path);
  if (!in) return false;
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return !j.is_discarded() && j.is_object() && j.contains("format") && j["format"] == "kbert-model";
}

bool pid_alive(long pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}


}  // namespace

bool is_kbert_entry(const std::string& name) { return known_files().count(strip_tmp_suffix(name)) > 0; }

std::string why_not_replaceable(const std::string& dir) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir, ec);
  if (ec || !fs::exists(st)) return "";
  if (fs::is_symlink(st)) return "it is a symbolic link; kbert writes only directories it made itself";
  if (!fs::is_directory(st)) return "it exists and is not a directory; kbert will not replace it";
  if (!fs::is_regular_file(fs::symlink_status(fs::path(dir) / "kbert.json", ec)))
    return fs::is_empty(dir, ec) && !ec ? "" : "it exists and is not a kbert model directory (no kbert.json); kbert will not replace it";
  if (!is_model_spec(fs::path(dir) / "kbert.json"))
    return "its kbert.json is not a kbert model's (a JSON object with \"format\": \"kbert-model\"); kbert will not "
           "replace it";
  return foreign_entry(dir);
}

std::string OutputDir::normalise(const std::string& dir) {
  std::string s = dir;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  const std::string name = fs::path(s).filename().string();
  if (s.empty() || name.empty() || name == "." || name == ".." || s == "/")
    throw OutputError(dir, "cannot be an output directory: name a new directory (or a kbert model directory to replace)");
  return s;
}

OutputDir::OutputDir(const std::string& dir, bool lock) : dir_(normalise(dir)) {
  const std::string why = why_not_replaceable(dir_);
  if (!why.empty()) throw OutputError(dir_, why + ": choose another --out");
  const fs::path parent = fs::path(dir_).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::exists(parent, ec)) fs::create_directories(parent, ec);
  if (ec) throw FileError(parent.string(), "cannot create the parent directory: " + ec.message());
  if (lock) {
    lock_path_ = dir_ + ".lock";
    for (int attempt = 0; attempt < 8; ++attempt) {
      const int fd = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) throw FileError(lock_path_, std::string("cannot create the lock file: ") + std::strerror(errno));
      if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char buf[32] = {0};
        const ssize_t got = ::pread(fd, buf, sizeof buf - 1, 0);
        ::close(fd);
        std::string holder = got > 0 ? std::string(buf, static_cast<std::size_t>(got)) : "";
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
        throw OutputError(dir_, "another kbert process" + (holder.empty() ? std::string() : " (pid " + holder + ")") +
                                  " is writing it (lock " + lock_path_ + ")");
      }
      // The file may have been unlinked by its previous holder between open and flock.
      struct stat a, b;
      if (::fstat(fd, &a) == 0 && ::stat(lock_path_.c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
        lock_fd_ = fd;
        const std::string pid = std::to_string(::getpid()) + "\n";
        if (::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
          // the pid is only for the message a second writer sees
        }
        break;
      }
      ::close(fd);
    }
    if (lock_fd_ < 0) throw FileError(lock_path_, "cannot take the lock (it keeps changing)");
  }
  clean_leftovers();
}

OutputDir::~OutputDir() {
  if (lock_fd_ >= 0) {
    ::unlink(lock_path_.c_str());
    ::close(lock_fd_);
  }
}

bool OutputDir::exists() const {
  std::error_code ec;
  return fs::exists(fs::symlink_status(dir_, ec));
}

void OutputDir::clean_leftovers() {
  const fs::path target(dir_);
  const std::string base = target.filename().string() + ".";
  const fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::error_code ec;
  std::vector<std::pair<fs::path, bool>> found;  // (path, is an "old" copy)
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, base.size(), base) != 0) continue;
    const std::string rest = name.substr(base.size());
    for (const char* kind : {"kbert-tmp-", "kbert-old-", "tmp-", "old-"}) {
      const std::string k(kind);
      if (rest.compare(0, k.size(), k) == 0 && all_digits(rest.substr(k.size()))) {
        const long pid = std::strtol(rest.c_str() + k.size(), nullptr, 10);
        if (pid == static_cast<long>(::getpid()) || !fs::is_directory(it->symlink_status())) break;
        if (pid_alive(pid)) {
          notes_.push_back("left " + it->path().string() + ": process " + std::to_string(pid) + " is still running");
          break;
        }
        found.emplace_back(it->path(), k.find("old") != std::string::npos);
        break;
      }
    }
  }
  for (const auto& [path, old] : found) {
    if (const std::string foreign = foreign_entry(path); !foreign.empty()) {
      notes_.push_back("left " + path.string() + ": " + foreign);
      continue;
    }
    if (old && !exists() && fs::exists(path / "kbert.json", ec)) {
      fs::rename(path, target, ec);
      if (!ec) {
        notes_.push_back("restored " + dir_ + " from " + path.string() + " (a run was stopped while replacing it)");
        continue;
      }
    }
    fs::remove_all(path, ec);
    notes_.push_back((ec ? "could not remove " : "removed ") + path.string() + ", left by a stopped run");
  }
}

void OutputDir::replace(const std::function<void(const std::string&)>& write) const {
  const std::string pid = std::to_string(::getpid());
  const std::string tmp = dir_ + ".kbert-tmp-" + pid;
  std::error_code ec;
  fs::remove_all(tmp, ec);
  try {
    write(tmp);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  fault_point("replace:written");
  if (!exists()) {
    if (std::rename(tmp.c_str(), dir_.c_str()) != 0) {
      const std::string err = std::strerror(errno);
      fs::remove_all(tmp, ec);
      throw FileError(dir_, "cannot move the new directory into place: " + err);
    }
    return;
  }
  const std::string why = why_not_replaceable(dir_);
  if (!why.empty()) {
    fs::remove_all(tmp, ec);
    throw FileError(dir_, why);
  }
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dir_.c_str(), RENAME_EXCHANGE) == 0) {
    fault_point("replace:swapped");
    fs::remove_all(tmp, ec);  // now the previous version
    return;
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
    const std::string err = std::strerror(errno);
    fs::remove_all(tmp, ec);
    throw FileError(dir_, "cannot swap the new directory into place: " + err);
  }
  // A filesystem without RENAME_EXCHANGE: the previous version waits aside until the new one
  // is in place; a run stopped in between is repaired when the directory is next claimed.
  const std::string old = dir_ + ".kbert-old-" + pid;
  fs::remove_all(old, ec);
  if (std::rename(dir_.c_str(), old.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    fs::remove_all(tmp, ec);
    throw FileError(dir_, "cannot move the previous version aside: " + err);
  }
  fault_point("replace:moved-aside");
  if (std::rename(tmp.c_str(), dir_.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    std::rename(old.c_str(), dir_.c_str());
    fs::remove_all(tmp, ec);
    throw FileError(dir_, "cannot move the new directory into place: " + err);
  }
  fs::remove_all(old, ec);
}

void OutputDir::remove() const {
  if (!exists()) return;
  const std::string why = why_not_replaceable(dir_);
  if (!why.empty()) throw FileError(dir_, why);
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void fault_point(const char* name) {
  static const char* spec = std::getenv("KBERT_FAULT_POINT");
  if (!spec || !*spec) return;
  static std::mutex mutex;
  static std::map<std::string, int> hits;
  std::string want(spec);
  int nth = 1;
  if (const auto at = want.rfind('@'); at != std::string::npos) {
    nth = std::atoi(want.c_str() + at + 1);
    want.resize(at);
  }
  if (want != name) return;
  std::lock_guard<std::mutex> lock(mutex);
  if (++hits[want] == nth) {
    std::fprintf(stderr, "kbert: fault point %s reached: killing the process (KBERT_FAULT_POINT)\n", name);
    std::fflush(stderr);
    ::raise(SIGKILL);
  }
}

}  // namespace kbert
