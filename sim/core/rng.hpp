// Pure core: deterministic random numbers.
//
// xoshiro256** (Blackman & Vigna) seeded through splitmix64, with our own samplers so that a seed gives
// the same draws on every platform and standard library (std::normal_distribution and friends are
// implementation-defined). Independent named streams come from one scenario seed, so changing, say,
// the router does not reshuffle arrivals.
#pragma once
#include <cmath>
#include <cstdint>
#include <string_view>

namespace chatdc {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }

  /// splitmix64: a well-mixed 64-bit hash of x (also used to spread request ids over cells).
  static std::uint64_t splitmix(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
  }

  /// A stream derived from a scenario seed and a stream name ("arrivals/east", "tokens").
  static Rng stream(std::uint64_t seed, std::string_view name) {
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a of the name, mixed with the seed
    for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    return Rng(seed ^ splitmix(h));
  }

  void reseed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& s : s_) s = splitmix(x += 0x9E3779B97F4A7C15ULL);
  }

  std::uint64_t next_u64() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  /// Uniform in (0, 1]: safe inside log().
  double uniform_pos() { return 1.0 - uniform(); }
  /// Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : static_cast<std::uint64_t>(uniform() * n) % n; }

  double exponential(double mean) { return -mean * std::log(uniform_pos()); }

  /// Standard normal by the ziggurat method (Marsaglia & Tsang 2000, 128 layers): one 64-bit draw
  /// answers ~98.8% of the time; the layer index and the value use separate bits of it.
  double normal() {
    const Ziggurat& z = ziggurat();
    for (;;) {
      const std::uint64_t u = next_u64();
      const auto i = static_cast<unsigned>(u & 127);
      const auto hz = static_cast<std::int32_t>(u >> 32);
      const double x = hz * z.w[i];
      if (static_cast<std::uint32_t>(hz < 0 ? -static_cast<std::int64_t>(hz) : hz) < z.k[i]) return x;
      if (i == 0) {  // the tail beyond r, by Marsaglia's exponential method
        double a, b;
        do {
          a = -std::log(uniform_pos()) / Ziggurat::kR;
          b = -std::log(uniform_pos());
        } while (b + b < a * a);
        return hz > 0 ? Ziggurat::kR + a : -Ziggurat::kR - a;
      }
      if (z.f[i] + uniform() * (z.f[i - 1] - z.f[i]) < std::exp(-0.5 * x * x)) return x;
    }
  }

  /// Gamma(shape, scale=1) by Marsaglia & Tsang (2000); shape < 1 by the boosting identity.
  double gamma(double shape) {
    if (shape < 1.0) return gamma(shape + 1.0) * std::pow(uniform_pos(), 1.0 / shape);
    const double d = shape - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = uniform_pos();
      if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
      if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
    }
  }

  /// Weibull(shape k, scale lambda) by inversion.
  double weibull(double shape, double scale) { return scale * std::pow(-std::log(uniform_pos()), 1.0 / shape); }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  struct Ziggurat {
    static constexpr double kR = 3.442619855899;  // start of the tail
    static constexpr double kV = 9.91256303526217e-3;  // area of each layer
    std::uint32_t k[128];
    double w[128], f[128];
    Ziggurat() {
      const double m = 2147483648.0;  // 2^31
      double dn = kR, tn = kR;
      const double q = kV / std::exp(-0.5 * dn * dn);
      k[0] = static_cast<std::uint32_t>((dn / q) * m);
      k[1] = 0;
      w[0] = q / m;
      w[127] = dn / m;
      f[0] = 1.0;
      f[127] = std::exp(-0.5 * dn * dn);
      for (int i = 126; i >= 1; --i) {
        dn = std::sqrt(-2.0 * std::log(kV / dn + std::exp(-0.5 * dn * dn)));
        k[i + 1] = static_cast<std::uint32_t>((dn / tn) * m);
        tn = dn;
        f[i] = std::exp(-0.5 * dn * dn);
        w[i] = dn / m;
      }
    }
  };
  static const Ziggurat& ziggurat() {
    static const Ziggurat z;
    return z;
  }

  std::uint64_t s_[4]{};
};

}  // namespace chatdc
