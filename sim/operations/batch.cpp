#include "operations/batch.hpp"

#include <algorithm>
#include <cmath>

namespace chatdc::operations {

bool BatchInstance::open_at(double t) const {
  if (t < release_s) return false;
  if (t >= deadline_s) return true;
  for (const auto& [a, b] : open)
    if (t >= a && t < b) return true;
  return false;
}

void BatchPool::add(std::uint32_t inst, std::uint64_t requests) {
  if (requests == 0) return;
  const auto& v = *instances_;
  const auto before = [&](const Entry& e) {
    const BatchInstance &x = v[e.inst], &y = v[inst];
    if (x.deadline_s != y.deadline_s) return x.deadline_s < y.deadline_s;
    if (x.release_s != y.release_s) return x.release_s < y.release_s;
    return e.inst < inst;
  };
  auto it = entries_.begin();
  while (it != entries_.end() && before(*it)) ++it;
  entries_.insert(it, Entry{inst, requests, 0});
}

bool BatchPool::take(serving::Job& job) {
  for (Entry& e : entries_) {
    if (e.left == 0 || !(*open_)[e.inst]) continue;
    const BatchInstance& b = (*instances_)[e.inst];
    job = serving::Job{};
    job.id = kBatchIdBase + (std::uint64_t{e.inst} << 32) + e.next++;
    job.prompt_tokens = b.prompt_tokens;
    job.output_tokens = b.output_tokens;
    job.tag = e.inst;
    job.batch = true;
    --e.left;
    return true;
  }
  return false;
}

std::uint64_t BatchPool::left() const {
  std::uint64_t n = 0;
  for (const Entry& e : entries_) n += e.left;
  return n;
}

std::uint64_t BatchPool::left(std::uint32_t inst) const {
  std::uint64_t n = 0;
  for (const Entry& e : entries_)
    if (e.inst == inst) n += e.left;
  return n;
}

bool BatchPool::ready() const {
  for (const Entry& e : entries_)
    if (e.left > 0 && (*open_)[e.inst]) return true;
  return false;
}

std::vector<std::uint64_t> split_proportionally(std::uint64_t total, const std::vector<double>& weights) {
  double sum = 0;
  for (double w : weights) sum += w;
  std::vector<std::uint64_t> out(weights.size(), 0);
  if (weights.empty() || sum <= 0) return out;
  double cum = 0;
  std::uint64_t given = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    cum += weights[i];
    const auto upto = i + 1 == weights.size() ? total
                                              : static_cast<std::uint64_t>(std::llround(static_cast<double>(total) * cum / sum));
    out[i] = upto - given;
    given = upto;
  }
  return out;
}

const char* batch_status(const BatchInstance& b, const BatchOutcome& o, double simulated_s) {
  if (o.requests_done >= b.requests) return o.last_done_s <= b.deadline_s ? "met" : "missed";
  return b.deadline_s <= simulated_s ? "missed" : "open";
}

}  // namespace chatdc::operations
