#include "pipeline/route_trace.h"

#include <cmath>

#include "datasets/batcher.h"
#include "formats/atomic_file.h"
#include "report/csv.h"

namespace branchy {

namespace {

// "input" for point -1, else "point<i>".
std::string point_name(int point) { return point < 0 ? "input" : "point" + std::to_string(point); }

std::string joined(const std::vector<float>& values) {
  std::string text;
  for (size_t k = 0; k < values.size(); ++k) text += (k ? " " : "") + csv_number(static_cast<double>(values[k]));
  return text;
}

// One CSV line from the JSON form, so both formats say the same.
std::string csv_line(const Json& j) {
  std::string tried, entropies, scores;
  for (const Json& b : j.at("tried")) tried += (tried.empty() ? "" : ";") + std::to_string(json_int(b));
  for (const Json& e : j.at("entropies")) {
    const std::string entropy = e.at("entropy").is_null() ? "nan" : csv_number(json_double(e, "entropy"));
    entropies += (entropies.empty() ? "" : ";") + std::to_string(json_int(e, "branch")) + ":" + entropy +
                 " (threshold " + csv_number(json_double(e, "threshold")) + ")";
  }
  for (const auto& [point, values] : j.at("scores").items()) {
    std::vector<float> v;
    for (const Json& x : values) v.push_back(static_cast<float>(json_double(x)));
    scores += (scores.empty() ? "" : ";") + point + ":" + joined(v);
  }
  return json_string(j, "policy") + "," + std::to_string(json_int(j, "sample")) + "," +
         std::to_string(json_int(j, "label")) + "," + tried + "," + entropies + "," + scores + "," +
         std::to_string(json_int(j, "exit")) + "," + std::to_string(json_int(j, "answer")) + "," +
         std::to_string(json_int(j, "macs")) + "," + std::to_string(json_int(j, "buffered_bytes")) + "\n";
}

}  // namespace

Json route_trace_json(const std::string& policy, int64_t sample, int label, const RouteResult& route, int64_t row,
                      const std::vector<float>& thresholds) {
  Json j = Json::object();
  j["policy"] = policy;
  j["sample"] = sample;
  j["label"] = label;
  Json tried = Json::array(), entropies = Json::array(), scores = Json::object();
  for (size_t b = 0; b < thresholds.size(); ++b)
    if (route.tried[row] >> b & 1u) tried.push_back(static_cast<int64_t>(b));
  if (!route.trace.empty()) {
    const RouteTrace& t = route.trace[row];
    for (size_t b = 0; b < t.entropy.size(); ++b) {
      if (!(route.tried[row] >> b & 1u)) continue;  // only the branches that ran have an entropy
      Json e = Json::object();
      e["branch"] = static_cast<int64_t>(b);
      e["entropy"] = std::isnan(t.entropy[b]) ? Json() : Json(static_cast<double>(t.entropy[b]));  // JSON has no NaN
      e["threshold"] = static_cast<double>(thresholds[b]);
      entropies.push_back(e);
    }
    for (size_t p = 0; p < t.scores.size(); ++p) {
      if (t.scores[p].empty()) continue;
      Json values = Json::array();
      for (float v : t.scores[p]) values.push_back(static_cast<double>(v));
      scores[point_name(static_cast<int>(p) - 1)] = values;
    }
  }
  j["tried"] = tried;
  j["entropies"] = entropies;
  j["scores"] = scores;
  j["exit"] = route.exit[row];
  j["answer"] = route.prediction[row];
  j["correct"] = route.prediction[row] == label;
  j["macs"] = route.macs[row];
  j["buffered_bytes"] = route.buffered_bytes[row];
  return j;
}

void write_route_traces(const std::string& path, const std::vector<Policy>& policies, const Dataset& data,
                        const Normalizer* normalizer, const std::vector<float>& thresholds) {
  const bool csv = path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0;
  AtomicFileWriter out(path);
  if (csv) out.write("policy,sample,label,tried,entropies,scores,exit,answer,macs,buffered_bytes\n");
  const Tensor images = normalized_images(data, 0, data.size(), normalizer);  // (N, C, H, W)
  for (const Policy& policy : policies) {
    if (policy.prepare) policy.prepare(images);
    for (int64_t begin = 0; begin < data.size(); begin += 256) {
      const int64_t end = std::min<int64_t>(data.size(), begin + 256);
      const RouteResult r = policy.run(images.batch_slice(begin, end), begin, true);
      for (int64_t row = 0; row < end - begin; ++row) {
        const Json j = route_trace_json(policy.name, begin + row, data.labels[begin + row], r, row, thresholds);
        out.write(csv ? csv_line(j) : dump_json(j) + "\n");
      }
    }
  }
  out.commit();
}

}  // namespace branchy
