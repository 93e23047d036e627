#include "golden_cases.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tartan::golden {

std::string SharedDir() {
  const char* env = std::getenv("TARTAN_SHARED_DIR");
  for (const char* candidate : {env, "../shared"}) {
    if (candidate != nullptr &&
        std::filesystem::is_directory(std::filesystem::path(candidate) / "golden")) {
      return candidate;
    }
  }
  return "";
}

absl::StatusOr<std::vector<GoldenCase>> LoadCases(const std::string& cases_jsonl) {
  std::ifstream in(cases_jsonl);
  if (!in) return absl::NotFoundError(absl::StrCat(cases_jsonl, ": cannot open"));
  std::vector<GoldenCase> cases;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) continue;
    try {
      nlohmann::json j = nlohmann::json::parse(line);
      GoldenCase c;
      c.id = j.at("id").get<std::string>();
      c.text = j.at("text").get<std::string>();
      c.is_query = j.at("is_query").get<bool>();
      if (!j.at("prompt_name").is_null()) c.prompt_name = j["prompt_name"].get<std::string>();
      c.pool_factor = j.at("pool_factor").get<int>();
      if (!j.at("pool_version").is_null()) c.pool_version = j["pool_version"].get<std::string>();
      c.ids = j.at("ids").get<std::vector<int32_t>>();
      const auto rows = j.at("embeddings").get<std::vector<std::vector<float>>>();
      c.rows = static_cast<int>(rows.size());
      c.dim = rows.empty() ? 0 : static_cast<int>(rows[0].size());
      for (const auto& r : rows) c.embeddings.insert(c.embeddings.end(), r.begin(), r.end());
      cases.push_back(std::move(c));
    } catch (const nlohmann::json::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(cases_jsonl, ":", line_number, ": ", e.what()));
    }
  }
  return cases;
}

namespace {

// Minimum-cost perfect matching of an n x n cost matrix (Hungarian algorithm with
// potentials, O(n^3)); returns assignment[row] = column.
std::vector<int> Hungarian(const std::vector<double>& cost, int n) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0.0), v(n + 1, 0.0);
  std::vector<int> p(n + 1, 0), way(n + 1, 0);
  for (int i = 1; i <= n; ++i) {
    p[0] = i;
    int j0 = 0;
    std::vector<double> minv(n + 1, inf);
    std::vector<char> used(n + 1, 0);
    do {
      used[j0] = 1;
      const int i0 = p[j0];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double cur = cost[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int j = 0; j <= n; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int> assignment(n, -1);
  for (int j = 1; j <= n; ++j) assignment[p[j] - 1] = j - 1;
  return assignment;
}

}  // namespace

double MatchedMaxAbsDiff(const std::vector<float>& got, const std::vector<float>& expected,
                         int rows, int dim) {
  if (got.size() != expected.size() || got.size() != static_cast<size_t>(rows) * dim) {
    return std::numeric_limits<double>::infinity();
  }
  if (rows == 0) return 0.0;
  std::vector<double> cost(static_cast<size_t>(rows) * rows);
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < rows; ++j) {
      double m = 0.0;
      for (int d = 0; d < dim; ++d) {
        m = std::max(m, std::fabs(static_cast<double>(got[static_cast<size_t>(i) * dim + d]) -
                                  expected[static_cast<size_t>(j) * dim + d]));
      }
      cost[static_cast<size_t>(i) * rows + j] = m;
    }
  }
  const std::vector<int> assignment = Hungarian(cost, rows);
  double worst = 0.0;
  for (int i = 0; i < rows; ++i) {
    worst = std::max(worst, cost[static_cast<size_t>(i) * rows + assignment[i]]);
  }
  return worst;
}

}  // namespace tartan::golden
