// Statistical tests of the synthetic workload generator (sim/workload/diurnal.*, token_sampler.*).
// Each test uses a fixed seed and states its bound and the probability that a correct generator fails
// it (false failure). With a fixed seed the outcome is deterministic; the probability says how unlikely
// it was that the chosen seed happened to fail.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numbers>
#include <tuple>
#include <utility>
#include <vector>

#include "workload/diurnal.hpp"
#include "workload/token_sampler.hpp"

using namespace chatdc;
using workload::ArrivalStream;
using workload::DemandCurve;
using workload::Renewal;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

DemandCurve shaped_day(double per_day) {
  DemandCurve c;
  c.requests_per_day = per_day;
  for (int h = 0; h < 24; ++h) c.hourly_weights[h] = 1.0 + 0.8 * std::sin(2 * std::numbers::pi * (h - 6) / 24.0);
  c.hourly_weights[20] *= 1.5;  // an evening spike
  return c;
}

std::array<double, 24> hourly_counts(const DemandCurve& c, Renewal r, std::uint64_t seed) {
  std::array<double, 24> n{};
  ArrivalStream s(c, r, 86400, Rng::stream(seed, "stats/arrivals"));
  for (double t = s.next(); t < kInf; t = s.next()) n[static_cast<std::size_t>(t / 3600)] += 1;
  return n;
}

double phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

/// Asymptotic Kolmogorov critical value: P(sqrt(n) D > c) ~ 2 exp(-2 c^2) = alpha, c = sqrt(-ln(alpha/2) / 2).
/// alpha = 1e-6 gives c = 2.6934 (alpha = 0.05 gives the familiar 1.36).
double ks_critical(double alpha, std::size_t n) { return std::sqrt(-std::log(alpha / 2) / 2) / std::sqrt(double(n)); }

/// KS distance between the sample (integers) and an integer-valued distribution with CDF G(k) = P(X <= k).
/// The empirical and true CDFs are both step functions jumping at integers, so the supremum is attained at
/// an integer: at each observed value v compare F_n(v) with G(v) and F_n(v - 1) with G(v - 1) (the gaps
/// between observed values are covered by the latter).
template <class Cdf>
double ks_distance_integer(std::vector<std::uint32_t> x, Cdf G) {
  std::sort(x.begin(), x.end());
  const double n = static_cast<double>(x.size());
  double d = 0;
  for (std::size_t i = 0; i < x.size();) {
    std::size_t j = i;
    while (j < x.size() && x[j] == x[i]) ++j;
    d = std::max(d, std::abs(i / n - G(x[i] - 1.0)));
    d = std::max(d, std::abs(j / n - G(x[i])));
    i = j;
  }
  return d;
}

}  // namespace

TEST_CASE("Poisson diurnal arrivals: hourly counts follow the profile (chi-square)", "[stats]") {
  const auto c = shaped_day(240000);
  const auto n = hourly_counts(c, {}, 11);
  double total = 0, wsum = 0;
  for (int h = 0; h < 24; ++h) total += n[h], wsum += c.hourly_weights[h];
  // Total ~ Poisson(240,000): 5 sd = 2,449 (false failure 5.7e-7).
  CHECK(std::abs(total - 240000) < 5 * std::sqrt(240000.0));
  // Given the total, an inhomogeneous Poisson process puts it into the hours multinomially, so Pearson's
  // statistic against total * w_h / sum(w) is chi-square with 23 degrees of freedom. Its upper 1e-6
  // quantile is 70.55 (false failure 1e-6).
  double chi2 = 0;
  for (int h = 0; h < 24; ++h) {
    const double e = total * c.hourly_weights[h] / wsum;
    chi2 += (n[h] - e) * (n[h] - e) / e;
  }
  CHECK(chi2 < 70.55);
  // A flat profile would be far off: the test has power.
  double chi2_flat = 0;
  for (int h = 0; h < 24; ++h) chi2_flat += (n[h] - total / 24) * (n[h] - total / 24) / (total / 24);
  CHECK(chi2_flat > 1000);
}

TEST_CASE("Gamma cv=2 diurnal arrivals: total and hourly counts within overdispersed bounds", "[stats]") {
  // A renewal count over an (operational-time) interval with mean E has variance E cv^2 + O(1)
  // (renewal CLT), so sd = 2 sqrt(E) here: 4x the Poisson variance, too much for the chi-square test.
  // Bound each of the 24 hours and the total at 6 sd + 2 (boundary effects); by the normal approximation
  // each check fails with probability 2e-9, all 25 together < 5e-8.
  const auto c = shaped_day(240000);
  const auto n = hourly_counts(c, {Renewal::Kind::kGamma, 2.0}, 12);
  double total = 0, wsum = 0;
  for (int h = 0; h < 24; ++h) total += n[h], wsum += c.hourly_weights[h];
  CHECK(std::abs(total - 240000) < 6 * 2 * std::sqrt(240000.0) + 2);
  for (int h = 0; h < 24; ++h) {
    const double e = 240000 * c.hourly_weights[h] / wsum;
    INFO("hour " << h << ": " << n[h] << " vs " << e);
    CHECK(std::abs(n[h] - e) < 6 * 2 * std::sqrt(e) + 2);
  }
}

TEST_CASE("inter-arrival CV within an hour of constant rate matches the requested cv", "[stats]") {
  // 1e6 gaps at a constant rate. The standard error of the sample CV comes from the delta method on the
  // first four moments of the gap law (Gamma: E X^r = theta^r G(a+r)/G(a); Weibull: E X^r = l^r G(1+r/k)).
  // Bound: 6 standard errors (false failure 2e-9 per case by the normal approximation); each bound is
  // below 0.05, so the check is at least as tight as |cv_hat - cv| < 0.05.
  DemandCurve flat;
  flat.requests_per_day = 24e6;  // 1e6 per hour
  flat.hourly_weights.fill(1.0);
  for (const auto& [kind, cv] : {std::pair{Renewal::Kind::kGamma, 0.5}, std::pair{Renewal::Kind::kGamma, 2.0},
                                 std::pair{Renewal::Kind::kWeibull, 0.5}, std::pair{Renewal::Kind::kWeibull, 1.5}}) {
    double m[5] = {1, 0, 0, 0, 0};  // raw moments of the unit-mean gap
    if (kind == Renewal::Kind::kGamma) {
      const double a = 1 / (cv * cv), theta = cv * cv;
      for (int r = 1; r <= 4; ++r) m[r] = std::pow(theta, r) * std::exp(std::lgamma(a + r) - std::lgamma(a));
    } else {
      const double k = workload::weibull_shape_for_cv(cv), l = 1 / std::tgamma(1 + 1 / k);
      for (int r = 1; r <= 4; ++r) m[r] = std::pow(l, r) * std::tgamma(1 + r / k);
    }
    const double mu = m[1], var = m[2] - mu * mu, sd = std::sqrt(var);
    const double mu3 = m[3] - 3 * mu * m[2] + 2 * mu * mu * mu;
    const double mu4 = m[4] - 4 * mu * m[3] + 6 * mu * mu * m[2] - 3 * std::pow(mu, 4);
    REQUIRE(sd / mu == Approx(cv).epsilon(1e-6));

    ArrivalStream s(flat, {kind, cv}, 3600, Rng::stream(21, "stats/cv"));
    double prev = 0, s1 = 0, s2 = 0, n = 0;
    for (double t = s.next(); t < kInf; t = s.next()) {
      const double g = t - prev;
      prev = t;
      s1 += g;
      s2 += g * g;
      n += 1;
    }
    const double mean = s1 / n, cv_hat = std::sqrt(s2 / n - mean * mean) / mean;
    const double dm = -sd / (mu * mu), dv = 1 / (2 * mu * sd);  // d(cv)/d(mean), d(cv)/d(variance)
    const double se = std::sqrt((dm * dm * var + dv * dv * (mu4 - var * var) + 2 * dm * dv * mu3) / n);
    INFO("cv " << cv << " kind " << static_cast<int>(kind) << ": cv_hat " << cv_hat << ", se " << se);
    CHECK(n > 0.99e6);
    CHECK(6 * se < 0.05);
    CHECK(std::abs(cv_hat - cv) < 6 * se);
  }
}

TEST_CASE("lognormal token sampler: Kolmogorov-Smirnov against the lognormal CDF", "[stats]") {
  // The sampler draws median * exp(sigma Z), rounds to the nearest integer and clamps to [min, max]. With
  // max large and min 1, P(X <= k) = Phi((ln(k + 0.5) - ln median) / sigma) for every integer k >= 1 (all
  // draws below 1.5 end at 1). We compare with this exact CDF of the rounded law, once with a small median
  // where rounding matters. For a discrete law the KS test with the continuous critical value is
  // conservative, so the false-failure probability is at most alpha = 1e-6; critical value
  // c(alpha) / sqrt(n) with c = sqrt(-ln(alpha/2) / 2) = 2.6934 (n = 2e5: D < 0.00602).
  // With a large median (1e6) rounding moves the CDF by at most the largest probability of one integer
  // (< 1e-6), so there we compare with the continuous lognormal CDF directly.
  const std::size_t n = 200000;
  for (const auto& [median_, sigma_, continuous_] :
       {std::tuple{20.0, 0.9, false}, std::tuple{1e6, 1.5, true}}) {
    const double median = median_, sigma = sigma_;  // copies: clang 14 lambdas cannot capture structured bindings
    const bool continuous = continuous_;
    workload::TokenDist d;
    d.kind = workload::TokenDist::Kind::kLognormal;
    d.median = median;
    d.sigma = sigma;
    d.max_tokens = std::numeric_limits<std::uint32_t>::max();
    const workload::TokenSampler s(d);
    Rng rng = Rng::stream(31, "stats/tokens");
    std::vector<std::uint32_t> x(n);
    for (auto& v : x) v = s.sample(rng);
    const double lm = std::log(median);
    const double D = ks_distance_integer(x, [&](double k) {
      if (k < 1) return 0.0;
      return phi(((continuous ? std::log(k) : std::log(k + 0.5)) - lm) / sigma);
    });
    INFO("median " << median << ": D = " << D);
    CHECK(D < ks_critical(1e-6, n));
    if (!continuous) {
      // Power check: the same sample against an unrounded CDF at this small median is rejected.
      const double D_wrong = ks_distance_integer(x, [&](double k) { return k < 1 ? 0.0 : phi((std::log(k) - lm) / sigma); });
      CHECK(D_wrong > ks_critical(1e-6, n));
    }
  }
}
