// `kbert train|pretrain --nproc N`: N local ranks of one data-parallel run, started as
// torchrun starts them (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in each one's
// environment). Rank 0 prints the result; the first rank to fail ends the others.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"

namespace kbert::cli {

namespace {

// A TCP port the kernel says is free now on the loopback (the store binds it a moment later).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("--nproc: cannot open a socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("--nproc: no free port on 127.0.0.1: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::vector<pid_t> g_children;
volatile std::sig_atomic_t g_forwarded = 0;
extern "C" void forward_signal(int sig) {
  g_forwarded = 1;
  for (pid_t p : g_children) ::kill(p, sig);
}

}  // namespace

// Read before the command parses its options (Args needs the command's list of them).
std::size_t nproc_option(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    std::string v;
    if (a == "--nproc") {
      v = i + 1 < argc ? argv[i + 1] : "";
    } else if (a.rfind("--nproc=", 0) == 0) {
      v = a.substr(8);
    } else {
      continue;
    }
    if (v.empty() || v.size() > 3 || v.find_first_not_of("0123456789") != std::string::npos || std::stoul(v) == 0 ||
        std::stoul(v) > 256)
      throw UsageError("--nproc needs a number of ranks from 1 to 256, got '" + v + "'");
    return std::stoul(v);
  }
  return 1;
}

int launch_ranks(int argc, char** argv, std::size_t nproc) {
  if (const char* w = std::getenv("WORLD_SIZE"); w && *w)
    throw UsageError("--nproc starts its own ranks, but WORLD_SIZE is set: use one or the other");
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {  // the ranks' command: this one without --nproc
    const std::string a = argv[i];
    if (a == "--nproc") {
      ++i;
      continue;
    }
    if (a.rfind("--nproc=", 0) == 0) continue;
    args.push_back(argv[i]);
  }
  args.push_back(nullptr);
  const std::string port = std::to_string(free_port());
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const std::string threads = std::to_string(std::max<unsigned>(1, cores / static_cast<unsigned>(nproc)));
  const pid_t launcher = ::getpid();
  for (std::size_t r = 0; r < nproc; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("--nproc: fork failed: ") + std::strerror(errno));
    if (pid == 0) {
      // The ranks die with the launcher, even when it is killed with SIGKILL and cannot
      // forward anything: SIGTERM, which stops a rank cleanly (checkpoint, exit).
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != launcher) ::_exit(128 + SIGTERM);  // it died before prctl took effect
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      ::setenv("KBERT_NUM_THREADS", threads.c_str(), 0);  // the cores shared out, unless set
      if (r > 0) {  // rank 0 prints the result
        const int devnull = ::open("/dev/null", O_WRONLY);
        if (devnull >= 0) ::dup2(devnull, 1);
      }
      ::execv("/proc/self/exe", args.data());
      std::perror("kbert: --nproc: cannot start a rank");
      ::_exit(127);
    }
    g_children.push_back(pid);
  }
  // A signal to the launcher goes to every rank (they stop together, rank 0 checkpoints).
  std::signal(SIGINT, forward_signal);
  std::signal(SIGTERM, forward_signal);
  int result = 0;
  std::size_t left = nproc;
  while (left > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    --left;
    std::size_t rank = 0;
    while (rank < g_children.size() && g_children[rank] != pid) ++rank;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0 && result == 0) {
      result = code;
      if (left > 0 && !g_forwarded) {  // a failure, not a stop the user asked for
        std::cerr << "kbert: rank " << rank << " of " << nproc << " ended with status " << code
                  << "; stopping the other ranks (the last complete checkpoint stays)\n";
        for (pid_t p : g_children)
          if (p != pid) ::kill(p, SIGKILL);
      }
    }
  }
  return result;
}

}  // namespace kbert::cli
