#include "services/cli/ir_metrics.h"

#include <algorithm>
#include <cmath>

namespace tartan::cli {

double NdcgAtK(const std::vector<std::string>& ranked, const std::map<std::string, int>& relevant,
               int k) {
  double dcg = 0;
  for (int i = 0; i < std::min<int>(k, ranked.size()); ++i) {
    auto it = relevant.find(ranked[i]);
    if (it != relevant.end() && it->second > 0) dcg += it->second / std::log2(i + 2.0);
  }
  std::vector<int> gains;
  for (const auto& [id, rel] : relevant) {
    if (rel > 0) gains.push_back(rel);
  }
  std::sort(gains.rbegin(), gains.rend());
  double ideal = 0;
  for (int i = 0; i < std::min<int>(k, gains.size()); ++i) ideal += gains[i] / std::log2(i + 2.0);
  return ideal > 0 ? dcg / ideal : 0;
}

double RecallAtK(const std::vector<std::string>& ranked, const std::map<std::string, int>& relevant,
                 int k) {
  int total = 0, found = 0;
  for (const auto& [id, rel] : relevant) total += rel > 0;
  if (total == 0) return 0;
  for (int i = 0; i < std::min<int>(k, ranked.size()); ++i) {
    auto it = relevant.find(ranked[i]);
    found += it != relevant.end() && it->second > 0;
  }
  return static_cast<double>(found) / total;
}

double ReciprocalRankAtK(const std::vector<std::string>& ranked,
                         const std::map<std::string, int>& relevant, int k) {
  for (int i = 0; i < std::min<int>(k, ranked.size()); ++i) {
    auto it = relevant.find(ranked[i]);
    if (it != relevant.end() && it->second > 0) return 1.0 / (i + 1);
  }
  return 0;
}

double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double pos = q * (values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(values.size() - 1, lo + 1);
  return values[lo] + (values[hi] - values[lo]) * (pos - lo);
}

}  // namespace tartan::cli
