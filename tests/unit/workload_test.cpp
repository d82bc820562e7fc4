#include <catch2/catch.hpp>

#include <cmath>

#include "workload/diurnal.hpp"
#include "workload/synthetic.hpp"
#include "workload/token_sampler.hpp"

using namespace chatdc;
using workload::DemandCurve;

namespace {
DemandCurve curve(double per_day, std::array<double, 24> w, double offset_s = 0) {
  DemandCurve c;
  c.requests_per_day = per_day;
  c.hourly_weights = w;
  c.offset_s = offset_s;
  return c;
}
std::array<double, 24> only_hour(int h) {
  std::array<double, 24> w{};
  w[h] = 1;
  return w;
}
}  // namespace

TEST_CASE("a day of the demand curve carries exactly requests_per_day") {
  std::array<double, 24> w{};
  for (int h = 0; h < 24; ++h) w[h] = 1 + std::sin(h / 24.0 * 6.283);
  const auto c = curve(1e6, w, 3 * 3600 + 1800);
  CHECK(c.expected(0, 86400) == Approx(1e6).epsilon(1e-9));
  CHECK(c.expected(86400, 2 * 86400) == Approx(1e6).epsilon(1e-9));
}

TEST_CASE("local time: users at UTC+8 peaking at local noon peak at run hour 4 on a UTC clock") {
  const auto c = curve(24000, only_hour(12), 8 * 3600.0);
  CHECK(c.rate_at(4.5 * 3600) == Approx(24000 / 3600.0));
  CHECK(c.rate_at(12.5 * 3600) == 0);
  workload::ArrivalStream s(c, {}, 86400, Rng(5));
  int n = 0;
  for (double t = s.next(); t < 1e300; t = s.next()) {
    REQUIRE(t >= 4 * 3600.0);
    REQUIRE(t < 5 * 3600.0);
    ++n;
  }
  CHECK(std::abs(n - 24000) < 5 * std::sqrt(24000.0));
}

TEST_CASE("day-of-week factors scale each local day") {
  auto c = curve(1000, only_hour(0));
  c.day_of_week = {1, 2, 1, 1, 1, 1, 0.5};
  c.start_weekday = 0;
  CHECK(c.expected(0, 86400) == Approx(1000));
  CHECK(c.expected(86400, 2 * 86400) == Approx(2000));
  c.start_weekday = 6;  // the run starts on a Sunday
  CHECK(c.expected(0, 86400) == Approx(500));
}

TEST_CASE("Weibull shape matches the requested coefficient of variation") {
  for (double cv : {0.3, 1.0, 2.0, 4.0}) {
    const double k = workload::weibull_shape_for_cv(cv);
    const double g1 = std::tgamma(1 + 1 / k), g2 = std::tgamma(1 + 2 / k);
    CHECK(std::sqrt(g2 / (g1 * g1) - 1) == Approx(cv).epsilon(1e-6));
  }
  CHECK(workload::weibull_shape_for_cv(1.0) == Approx(1.0).epsilon(1e-6));  // the exponential
}

TEST_CASE("token samplers: fixed, clamped lognormal with its median") {
  workload::TokenDist f;
  f.value = 512;
  Rng rng(1);
  CHECK(workload::TokenSampler(f).sample(rng) == 512);

  workload::TokenDist ln;
  ln.kind = workload::TokenDist::Kind::kLognormal;
  ln.median = 1000;
  ln.sigma = 0.8;
  ln.max_tokens = 3000;
  const workload::TokenSampler s(ln);
  std::vector<std::uint32_t> v;
  for (int i = 0; i < 20001; ++i) v.push_back(s.sample(rng));
  std::nth_element(v.begin(), v.begin() + 10000, v.end());
  CHECK(v[10000] == Approx(1000).epsilon(0.03));
  CHECK(*std::max_element(v.begin(), v.end()) == 3000);
  CHECK(s.mean() < 1000 * std::exp(0.32));  // clamping pulls the mean below the unclamped one
}

TEST_CASE("synthetic source merges user regions in time order with unique ids") {
  workload::SyntheticSpec spec;
  spec.regions = {curve(5000, only_hour(1)), curve(5000, only_hour(1), 3600)};
  spec.prompt.value = 100;
  spec.output.value = 10;
  spec.duration_s = 86400;
  workload::SyntheticSource src(spec);
  double last = -1;
  std::uint64_t n = 0, region1 = 0;
  while (src.peek_time() < 1e300) {
    const auto r = src.pop();
    REQUIRE(r.time_s >= last);
    REQUIRE(r.id == n);
    last = r.time_s;
    region1 += r.user_region;
    ++n;
  }
  CHECK(std::abs(static_cast<double>(n) - 10000) < 5 * 100);
  CHECK(region1 > 4000);
  CHECK(src.expected_requests() == Approx(10000));
}

TEST_CASE("system prompts: a share of the prompts start with one of the shared system prompts") {
  workload::SyntheticSpec spec;
  spec.regions = {curve(86400, only_hour(0))};  // 3,600 requests in the first hour
  spec.prompt.kind = workload::TokenDist::Kind::kFixed;
  spec.prompt.value = 100;
  spec.output.value = 10;
  spec.seed = 3;
  auto draw = [&](std::uint32_t tokens) {
    spec.system_prompt_tokens = tokens;
    spec.system_prompt_share = 0.25;
    spec.system_prompts = 3;
    workload::SyntheticSource src(spec);
    std::vector<workload::RequestSpec> v;
    while (src.peek_time() < workload::RequestSource::kNever) v.push_back(src.pop());
    return v;
  };
  const auto plain = draw(0), with = draw(700);
  REQUIRE(plain.size() == with.size());  // the same arrivals and lengths: system prompts draw from their own stream
  std::array<int, 4> per{};
  for (std::size_t i = 0; i < with.size(); ++i) {
    CHECK(with[i].time_s == plain[i].time_s);
    CHECK(plain[i].prefix == 0);
    const std::uint32_t which = workload::prefix::system_prompt(with[i].prefix);
    ++per[which];
    CHECK(with[i].prompt_tokens == 100 + (which ? 700 : 0));
    CHECK(with[i].system_prompt_tokens == (which ? 700u : 0u));
  }
  // A quarter carry one (binomial sd 26 of 3,600: 5 sd), spread over the three.
  const double n = static_cast<double>(with.size());
  CHECK(std::abs(per[1] + per[2] + per[3] - 0.25 * n) < 5 * std::sqrt(n * 0.25 * 0.75));
  for (int k = 1; k <= 3; ++k) CHECK(std::abs(per[k] - n / 12) < 5 * std::sqrt(n / 12));
}
