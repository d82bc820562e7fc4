#include <catch2/catch.hpp>

#include "core/rng.hpp"
#include "serving/run_math.hpp"

using namespace chatdc;

namespace {
model::DecodeProfile two_pieces() {
  model::DecodeProfile p;
  p.pieces.push_back({0.0, {0.010, 1e-6}, {3.0, 2e-4}});
  p.pieces.push_back({5000.5, {0.0055, 1.9e-6}, {1.0, 6e-4}});
  return p;
}
// A measured table gives more pieces than a roofline's two.
model::DecodeProfile four_pieces() {
  model::DecodeProfile p = two_pieces();
  p.pieces.push_back({6000.0, {0.004, 2.2e-6}, {0.5, 7e-4}});
  p.pieces.push_back({6400.0, {0.001, 2.8e-6}, {0.2, 8e-4}});
  return p;
}
}  // namespace

TEST_CASE("run sums equal step-by-step sums across pieces") {
  const auto prof = GENERATE(two_pieces(), four_pieces());
  INFO(prof.pieces.size() << " pieces");
  for (double c0 : {0.0, 1234.0, 4990.0, 6100.0, 7000.0}) {
    for (double b : {1.0, 7.0, 64.0}) {
      const serving::RunMath run(&prof, c0, b);
      double t = 0, e = 0;
      for (std::uint64_t n = 0; n <= 300; ++n) {
        REQUIRE(run.time_of(n) == Approx(t).epsilon(1e-11).margin(1e-15));
        REQUIRE(run.energy_of(n) == Approx(e).epsilon(1e-11).margin(1e-15));
        t += prof.time_at(c0 + b * n);
        e += prof.energy_at(c0 + b * n);
      }
    }
  }
}

TEST_CASE("steps_within inverts time_of") {
  const auto prof = GENERATE(two_pieces(), four_pieces());
  Rng rng(3);
  for (int i = 0; i < 2000; ++i) {
    const serving::RunMath run(&prof, std::floor(rng.uniform() * 8000), 1 + std::floor(rng.uniform() * 100));
    const double tau = rng.uniform() * 20.0;
    const auto n = run.steps_within(tau);
    REQUIRE(run.time_of(n) <= tau);
    REQUIRE(run.time_of(n + 1) > tau);
  }
}
