// Config layer (pure): lowest-latency paths between regions over the scenario's WAN links.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "config/scenario.hpp"

namespace chatdc::config {

/// One hop: a WAN link index and whether it is crossed from its `from` end to its `to` end.
struct WanHop {
  std::uint32_t link = 0;
  bool forward = true;
};

/// paths[a][b]: hops from region a to region b (empty when a == b); nullopt when unreachable.
std::vector<std::vector<std::optional<std::vector<WanHop>>>> wan_paths(std::size_t regions, const std::vector<WanLinkSpec>& wan);

}  // namespace chatdc::config
