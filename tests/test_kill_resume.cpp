// Training survives being killed. Real `branchy train` processes are killed
// with SIGKILL at random moments; after every kill the checkpoints in the run
// folder load (a half-written file would fail its layout or its checksums),
// and resuming with --resume until the run is done ends with the same
// checkpoints, bit for bit, as a run never stopped (same seed, one thread).
//
// The program runs as a child process, since a run inside the test process
// could not be killed without killing the tests. BRANCHY_BINARY names it
// (`make test` sets it); otherwise it is the `branchy` beside this test binary.
//
// What it can and cannot see: a kill tests the temporary-file-and-rename
// protocol (with a writer changed to write in place, about half of the runs
// of this test failed on a torn checkpoint); the fsyncs of file and folder
// guard against power loss, which no test here can cause.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "datasets/idx.h"
#include "formats/checkpoint.h"
#include "formats/json.h"
#include "pipeline/model_file.h"
#include "report/csv.h"
#include "tests/quadrant_task.h"
#include "tests/temp_folder.h"

extern char** environ;

using namespace branchy;
using namespace branchy::testing;
namespace fs = std::filesystem;

namespace {

constexpr int epochs = 12;
constexpr int most_kills = 5;
constexpr double longest_run_seconds = 120;  // a run that takes longer is stuck

// The branchy program to run. Missing is a failure, not a skip: `make test`
// builds it first, so its absence means the build or the setup is broken.
std::string branchy_program() {
  std::string path;
  if (const char* named = std::getenv("BRANCHY_BINARY")) {
    path = named;
  } else {
    std::error_code error;
    path = (fs::read_symlink("/proc/self/exe", error).parent_path() / "branchy").string();
  }
  if (::access(path.c_str(), X_OK) != 0)
    FAIL("cannot run the branchy program at '" << path << "' (" << std::strerror(errno)
                                               << "): build it with make, or name it in BRANCHY_BINARY");
  return path;
}

// A child process whose stdout and stderr go to a file; killed and reaped
// when destroyed while still running (a failed REQUIRE leaves no orphan).
class ChildProcess {
 public:
  ChildProcess(const std::string& program, const std::vector<std::string>& arguments, const std::string& output) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    const int error = posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) FAIL("cannot start " << program << ": " << std::strerror(error));
    running_ = true;
  }
  ~ChildProcess() {
    if (running_) kill();
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Waits up to `seconds` for the child to end; whether it did.
  bool wait_for(double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (running_) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        running_ = false;
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      } else if (std::chrono::steady_clock::now() >= deadline) {
        return false;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    return true;
  }
  void kill() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    running_ = false;
    exit_status_ = 128 + SIGKILL;
  }
  int exit_status() const { return exit_status_; }

 private:
  pid_t pid_ = 0;
  bool running_ = false;
  int exit_status_ = -1;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> train_arguments(const std::string& data, const std::string& run, bool resume) {
  std::vector<std::string> arguments = {"train", "--net", "b-lenet", "--config", tiny_b_lenet_config,
                                        "--data", "mnist:" + data, "--validation", "64",
                                        "--epochs", std::to_string(epochs), "--batch", "32", "--lr", "0.003",
                                        "--seed", "5", "--threads", "1", "--quiet", "--out", run};
  if (resume) arguments.push_back("--resume");
  return arguments;
}

// The epoch last.safetensors holds (0 before the first one is saved). Both
// checkpoints, where they exist, must load: layout, checksums and network.
int require_loadable_checkpoints(const std::string& run) {
  if (fs::exists(run + "/model.safetensors")) load_model(run + "/model.safetensors");
  if (!fs::exists(run + "/last.safetensors")) return 0;
  return static_cast<int>(json_int(load_model(run + "/last.safetensors").info.training, "epoch"));
}

// Nothing in the run folder but its four files and, when allowed, the
// temporary files of writes that a kill cut short.
void require_only_run_files(const std::string& run, bool temporary_files_allowed) {
  if (!temporary_files_allowed) REQUIRE(fs::is_directory(run));
  if (!fs::is_directory(run)) return;  // killed before start-up made it (MPI_Init alone takes ~0.1 s)
  for (const auto& entry : fs::directory_iterator(run)) {
    const std::string name = entry.path().filename().string();
    INFO(name);
    const bool known = name == "model.safetensors" || name == "last.safetensors" || name == "train_log.csv" ||
                       name == "training.svg" ||
                       (temporary_files_allowed && name.find(".tmp-") != std::string::npos);
    REQUIRE(known);
  }
}

// Same tensors (names, shapes, bits) and the same metadata.
void require_same_checkpoint(const std::string& expected_path, const std::string& actual_path) {
  const Checkpoint expected = load_safetensors(expected_path), actual = load_safetensors(actual_path);
  INFO(expected_path << " against " << actual_path);
  REQUIRE(actual.metadata == expected.metadata);
  REQUIRE(actual.tensors.size() == expected.tensors.size());
  for (size_t i = 0; i < expected.tensors.size(); ++i) {
    const Tensor& a = expected.tensors[i].tensor;
    const Tensor& b = actual.tensors[i].tensor;
    INFO(expected.tensors[i].name);
    REQUIRE(actual.tensors[i].name == expected.tensors[i].name);
    REQUIRE(b.shape() == a.shape());
    REQUIRE(std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.numel())) == 0);
  }
}

// The epoch column of the log: each epoch once, in order.
std::vector<int> logged_epochs(const std::string& csv_path) {
  std::istringstream lines(read_file(csv_path));
  std::string line;
  std::getline(lines, line);  // the header
  std::vector<int> logged;
  while (std::getline(lines, line)) logged.push_back(std::stoi(csv_split_line(line).at(0)));
  return logged;
}

}  // namespace

TEST_CASE("training killed at random moments resumes to the checkpoints of a run never stopped", "[training]") {
  const std::string program = branchy_program();
  const TemporaryFolder folder("kill-resume");
  const std::string data = folder.file("data"), straight = folder.file("straight"), killed = folder.file("killed");
  write_quadrant_mnist(data);

  const auto start = std::chrono::steady_clock::now();
  {
    ChildProcess uninterrupted(program, train_arguments(data, straight, false), folder.file("straight.out"));
    REQUIRE(uninterrupted.wait_for(longest_run_seconds));
    INFO(read_file(folder.file("straight.out")));
    REQUIRE(uninterrupted.exit_status() == 0);
  }
  const double run_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Kills land anywhere from start-up to the middle of a whole run, so they
  // hit loading, training, validation and the checkpoint writes.
  const unsigned seed = std::random_device{}();
  std::mt19937 random(seed);
  std::uniform_real_distribution<double> delay_seconds(0.05 * run_seconds, 0.5 * run_seconds);
  std::ostringstream history;
  history << "run of " << run_seconds << " s, kill seed " << seed << ";";
  int kills = 0, saved_epoch = 0;
  for (int attempt = 0; attempt < most_kills; ++attempt) {
    const std::string output = folder.file("killed-" + std::to_string(attempt) + ".out");
    ChildProcess run(program, train_arguments(data, killed, saved_epoch > 0), output);
    const double delay = delay_seconds(random);
    if (run.wait_for(delay)) {  // it finished before its kill
      INFO(history.str() << "\n" << read_file(output));
      REQUIRE(run.exit_status() == 0);
      break;
    }
    run.kill();
    ++kills;
    history << " killed after " << delay << " s";
    INFO(history.str());
    const int epoch = require_loadable_checkpoints(killed);
    history << " with epoch " << epoch << " saved;";
    REQUIRE(epoch >= saved_epoch);  // never back to an older checkpoint
    require_only_run_files(killed, true);
    saved_epoch = epoch;
  }
  INFO(history.str());
  REQUIRE(kills >= 1);

  ChildProcess finish(program, train_arguments(data, killed, saved_epoch > 0), folder.file("killed-last.out"));
  REQUIRE(finish.wait_for(longest_run_seconds));
  INFO(read_file(folder.file("killed-last.out")));
  REQUIRE(finish.exit_status() == 0);
  require_same_checkpoint(straight + "/last.safetensors", killed + "/last.safetensors");
  require_same_checkpoint(straight + "/model.safetensors", killed + "/model.safetensors");
  require_only_run_files(killed, false);  // each resumed run removed what killed ones left
  std::vector<int> every_epoch(epochs);
  for (int e = 0; e < epochs; ++e) every_epoch[e] = e + 1;
  REQUIRE(logged_epochs(killed + "/train_log.csv") == every_epoch);
}
