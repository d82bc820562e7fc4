// Test helper: a scratch folder of this test process.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace chatdc::test {

/// A folder of this process under the system's temporary folder (ctest runs test cases as parallel
/// processes), created on first use and removed, with what it holds, when the process exits.
inline const std::filesystem::path& scratch_dir() {
  struct Dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() / ("chatdc-unit-" + std::to_string(::getpid()));
    Dir() { std::filesystem::create_directories(path); }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

}  // namespace chatdc::test
