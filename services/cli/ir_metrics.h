// Retrieval quality metrics as trec_eval / pytrec_eval (used by BEIR) define them. No gRPC.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tartan::cli {

// `ranked`: retrieved ids best first. `relevant`: id → graded relevance (> 0 is relevant).
// nDCG@k with gain = relevance and discount log2(rank + 1), ideal from the qrels.
double NdcgAtK(const std::vector<std::string>& ranked, const std::map<std::string, int>& relevant,
               int k);
// Fraction of relevant ids found in the first k.
double RecallAtK(const std::vector<std::string>& ranked, const std::map<std::string, int>& relevant,
                 int k);
// 1 / rank of the first relevant id within the first k, else 0.
double ReciprocalRankAtK(const std::vector<std::string>& ranked,
                         const std::map<std::string, int>& relevant, int k);
// The q-quantile (0..1) of `values` by linear interpolation; 0 for an empty list.
double Quantile(std::vector<double> values, double q);

}  // namespace tartan::cli
