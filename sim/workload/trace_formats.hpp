// Pure core (internal to the trace replay): the format readers behind TraceSource (trace.hpp).
// Each format becomes a detail::PlayedStream (skip and loop applied); scan_trace() reads the whole
// trace once up front to validate it and count the requests that will play.
#pragma once
#include <memory>

#include "workload/trace.hpp"

namespace chatdc::workload::detail {

struct TraceScan {
  /// Trace requests that play before the run's end (cutoff), before rate_scale and sample_fraction.
  double expected_requests = 0;
  /// ServeGen: end of the last window over all clients (trace time, s); the loop period is this - skip_s.
  double servegen_end_s = 0;
  /// Mooncake: the block hashes of every data line that has them (else nullptr).
  std::shared_ptr<HashChains> chains;
};

/// Reads the whole trace once: throws chatdc::Error for a missing file, a bad line (unless
/// skip_malformed), a trace without requests (after skip_s) and a loop over a zero-length trace.
/// cutoff_played_s: played trace time at which the run ends, (duration_s - start_offset_s) / time_scale.
TraceScan scan_trace(const TraceOptions& o, double cutoff_played_s);

/// The played stream of o.format. Counts lines, skipped lines and loops into stats.
std::unique_ptr<PlayedStream> make_played_stream(const TraceOptions& o, TraceStats& stats,
                                                 const TraceScan& scan, double cutoff_played_s);

}  // namespace chatdc::workload::detail
