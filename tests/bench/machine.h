// machine.h — what the benchmarks print about the machine they ran on (the
// CPU model, the load average, lines of /proc files) and their clock.
// Header-only, shared by tests/bench/bench_kernels.cpp and
// tests/bench_peers/conv_vs_onednn.cpp.
#pragma once

#include <chrono>
#include <fstream>
#include <string>

namespace branchy::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The first line of `path` that starts with `key`, or "".
inline std::string first_line_with(const std::string& path, const std::string& key) {
  std::ifstream file(path);
  std::string line;
  while (std::getline(file, line))
    if (line.rfind(key, 0) == 0) return line;
  return "";
}

inline std::string cpu_model() {
  const std::string line = first_line_with("/proc/cpuinfo", "model name");
  const size_t colon = line.find(':');
  return colon == std::string::npos ? "unknown" : line.substr(colon + 2);
}

// "1.05 1.37 1.21": the 1, 5 and 15-minute load averages.
inline std::string load_average() {
  std::ifstream file("/proc/loadavg");
  std::string one, five, fifteen;
  file >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

}  // namespace branchy::bench
