// Pure core: unit constants and conversions. Every quantity in chatdc carries its unit in its name
// (power_w, energy_j, price_usd_per_kwh); these helpers are the only place conversions happen.
#pragma once

namespace chatdc {

inline constexpr double kSecondsPerHour = 3600.0;
inline constexpr double kSecondsPerDay = 86400.0;
inline constexpr double kDaysPerYear = 365.0;
inline constexpr double kDaysPerMonth = 30.4375;  // 365.25 / 12, for monthly charges
inline constexpr double kJoulesPerKwh = 3.6e6;
inline constexpr double kBytesPerGb = 1e9;  // decimal GB, as GPU datasheets use

inline constexpr double j_to_kwh(double energy_j) { return energy_j / kJoulesPerKwh; }
inline constexpr double kwh_to_j(double energy_kwh) { return energy_kwh * kJoulesPerKwh; }

}  // namespace chatdc
