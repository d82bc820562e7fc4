// Study layer (pure): the points of a sweep. A point is one run: a label, a scenario file, its
// overrides and its output folder. Sweeps give value lists on the command line:
//   --grid KEY=V1,V2,...      one axis of the cartesian product (values split on commas outside
//                             brackets, braces and quotes, so YAML lists and maps are values too)
//   --grid KEY=START:STOP[:STEP]   an inclusive numeric range (STEP 1 by default): racks=8:64:8
//   --zip KEY=V1,V2,...       zipped lists vary together, as one more axis (all of the same length)
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace chatdc::study {

struct Point {
  std::string label;                   // as shown in tables
  std::string scenario;                // scenario file
  std::vector<std::string> overrides;  // key.path=value, applied after the study's common --set
  std::string folder;                  // relative to the study's output folder
};

/// One varied key and its values, as given by an option.
struct Axis {
  std::string option;  // "--grid" or "--zip": for messages
  std::string text;    // the option's value as given
  std::string key;
  std::vector<std::string> values;
};

/// Parses "KEY=V1,V2,..." or "KEY=START:STOP[:STEP]". Throws chatdc::Error naming the option and value.
Axis parse_axis(const std::string& option, const std::string& text);

/// One point of a sweep: (key, value) per varied key, in axis order (grids, then zips).
using Assignment = std::vector<std::pair<std::string, std::string>>;

/// The cartesian product of the grids (the first grid varies slowest) with the zipped lists as one
/// more axis. Throws chatdc::Error for zips of different lengths, a key given twice, or more than
/// max_points points.
std::vector<Assignment> expand(const std::vector<Axis>& grids, const std::vector<Axis>& zips, std::size_t max_points = 10000);

/// Short names for the varied keys: the last path component, or more of the path where two would clash.
std::vector<std::string> short_names(const std::vector<std::string>& keys);

/// A folder name for a label: characters outside [A-Za-z0-9._+=-] become '_'; long names are shortened
/// and end with a hash of the whole label, so distinct labels keep distinct folders.
std::string folder_name(const std::string& label);

/// "k=v k2=[1, 2] k3='a b'": splits on blanks outside brackets, braces and quotes. `what` names the
/// option in errors. Every item must be key.path=value.
std::vector<std::string> split_overrides(const std::string& text, const std::string& what);

/// Splits on `sep` outside brackets, braces and quotes.
std::vector<std::string> split_top_level(const std::string& text, char sep, bool* balanced);

std::string trim(const std::string& s);

}  // namespace chatdc::study
