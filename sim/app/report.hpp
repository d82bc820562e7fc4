// App: the short human-readable report printed after a run.
#pragma once
#include <string>

#include "config/scenario.hpp"
#include "engine/day_engine.hpp"

namespace chatdc::app {

std::string short_report(const std::string& name, const engine::RunResult& r);
/// Warnings (stderr, spdlog) about results a planner should not take at face value.
void warn_about(const engine::RunResult& r);
/// 1234567 -> "1,234,567"; 0.5 M-style figures keep two significant decimals.
std::string grouped(double v);

}  // namespace chatdc::app
