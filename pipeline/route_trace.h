// route_trace.h — the audit trail of routed samples, one line per sample and policy.
//
// For each sample: the policy, the sample's index and label, the branches it
// tried, every entropy computed (against its threshold), every predictor
// output, the exit, the answer, the MACs spent and the bytes buffered — what a
// reader needs to follow the algorithm on one image.
// A path ending in ".csv" gets CSV (lists inside a field are ';'-separated);
// any other path gets JSON lines.
#pragma once

#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/normalizer.h"
#include "predictors/policy.h"

namespace branchy {

// One routed sample as a JSON object (also what `branchy infer --trace` prints).
Json route_trace_json(const std::string& policy, int64_t sample, int label, const RouteResult& route, int64_t row,
                      const std::vector<float>& thresholds);

// Routes every sample of `data` with each policy (batches of 256, untimed) and
// writes the trail to `path`, atomically.
void write_route_traces(const std::string& path, const std::vector<Policy>& policies, const Dataset& data,
                        const Normalizer* normalizer, const std::vector<float>& thresholds);

}  // namespace branchy
