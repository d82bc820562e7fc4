// Pure core: a deterministic Nelder-Mead simplex search (the calibration fits).
#pragma once
#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

namespace chatdc {

struct NelderMeadLimits {
  int max_iterations = 1 << 30;
  int max_evaluations = 1 << 30;  // counted across calls through `evaluations`
  double tolerance = 1e-10;       // stop when the simplex's costs spread less than this
};

/// Minimises `cost` over the first `n` coordinates of `x0` (the others stay as in `x0`), from a
/// simplex of `x0` and `x0` moved by `step` along each coordinate. Reflection -1, expansion -2,
/// contraction +-0.5, shrink 0.5 towards the best vertex. Adds the evaluations it makes to
/// `*evaluations`. Returns the best vertex (the first of equals) and its cost.
template <class Vec, class Cost>
std::pair<Vec, double> nelder_mead(Cost&& cost, const Vec& x0, int n, double step, const NelderMeadLimits& limits,
                                   int* evaluations) {
  const std::size_t m = static_cast<std::size_t>(n) + 1;
  std::vector<Vec> simplex(m, x0);
  std::vector<double> f(m);
  for (int i = 0; i < n; ++i) simplex[i + 1][i] += step;
  for (std::size_t i = 0; i < m; ++i) f[i] = cost(simplex[i]);
  *evaluations += n + 1;
  std::vector<int> order(m);
  for (int it = 0; it < limits.max_iterations && *evaluations < limits.max_evaluations; ++it) {
    for (int i = 0; i <= n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](int a, int b) { return f[a] < f[b]; });
    const int lo = order[0], hi = order[n], second = order[n - 1];
    if (f[hi] - f[lo] < limits.tolerance) break;
    Vec centroid = x0;
    for (int k = 0; k < n; ++k) centroid[k] = 0;
    for (int i = 0; i <= n; ++i)
      if (i != hi)
        for (int k = 0; k < n; ++k) centroid[k] += simplex[i][k] / n;
    auto along = [&](double t) {
      Vec v = centroid;
      for (int k = 0; k < n; ++k) v[k] = centroid[k] + t * (simplex[hi][k] - centroid[k]);
      return v;
    };
    const Vec xr = along(-1.0);
    const double fr = cost(xr);
    ++*evaluations;
    if (fr < f[lo]) {
      const Vec xe = along(-2.0);
      const double fe = cost(xe);
      ++*evaluations;
      simplex[hi] = fe < fr ? xe : xr;
      f[hi] = std::min(fe, fr);
    } else if (fr < f[second]) {
      simplex[hi] = xr;
      f[hi] = fr;
    } else {
      const Vec xc = along(fr < f[hi] ? -0.5 : 0.5);
      const double fc = cost(xc);
      ++*evaluations;
      if (fc < std::min(fr, f[hi])) {
        simplex[hi] = xc;
        f[hi] = fc;
      } else {
        for (int i = 0; i <= n; ++i)
          if (i != lo) {
            for (int k = 0; k < n; ++k) simplex[i][k] = simplex[lo][k] + 0.5 * (simplex[i][k] - simplex[lo][k]);
            f[i] = cost(simplex[i]);
            ++*evaluations;
          }
      }
    }
  }
  std::size_t best = 0;
  for (std::size_t i = 1; i < m; ++i)
    if (f[i] < f[best]) best = i;
  return {simplex[best], f[best]};
}

}  // namespace chatdc
