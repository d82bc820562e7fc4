// App: `chatdc workload`: what a scenario's (or a bare trace's) demand looks like, without simulating.
#pragma once
#include <string>
#include <vector>

namespace chatdc::app {

struct WorkloadArgs {
  std::string scenario;             // a scenario file, or
  std::string trace, format;        // a bare trace and its format
  double duration_s = 0;            // bare trace: 0 = the whole trace
  bool duration_given = false;      // --duration was on the command line
  double bucket_s = 3600;
  std::vector<std::string> sets;
  bool json = false;
  std::string png;
};
int cmd_workload(const WorkloadArgs& a);

}  // namespace chatdc::app
