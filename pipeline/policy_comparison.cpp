#include "pipeline/policy_comparison.h"

#include "report/svg_plot.h"
#include "report/table.h"

namespace branchy {

namespace {

const PolicyReport* find_report(const std::vector<PolicyReport>& reports, const std::string& name) {
  for (const PolicyReport& r : reports)
    if (r.name == name) return &r;
  return nullptr;
}

}  // namespace

Comparison compare_policies(const std::vector<PolicyReport>& reports) {
  Comparison c;
  const PolicyReport* branchy = find_report(reports, "branchy");
  const PolicyReport* oracle = find_report(reports, "oracle");
  c.has_branchy = branchy != nullptr;
  c.has_oracle = branchy && oracle;
  if (c.has_oracle) {
    c.headroom_macs = branchy->mean_macs - oracle->mean_macs;
    c.headroom_share = branchy->mean_macs > 0 ? c.headroom_macs / branchy->mean_macs : 0.0;
  }
  for (const PolicyReport& r : reports) {
    PolicyComparison p;
    p.report = &r;
    if (branchy) {
      p.accuracy_change = r.accuracy - branchy->accuracy;
      p.agreement = exit_agreement(r, *branchy);
      // 1e-9: accuracies are counts over the same samples; equal is within.
      p.misses_max_drop = r.knob_choice && p.accuracy_change < -r.knob_choice->max_drop - 1e-9;
    }
    if (c.has_oracle && c.headroom_macs > 0) p.headroom_captured = (branchy->mean_macs - r.mean_macs) / c.headroom_macs;
    c.policies.push_back(p);
  }
  return c;
}

std::string comparison_table(const Comparison& c, int throughput_batch) {
  TextTable table({"policy", "accuracy", "vs branchy", "exit share %", "exit accuracy %", "MACs/sample",
                   "headroom", "agree", "latency us", "p99 us", "segments us",
                   "img/s b=" + std::to_string(throughput_batch), "buffered B mean/peak"});
  for (const PolicyComparison& p : c.policies) {
    const PolicyReport& r = *p.report;
    table.add_row({r.name, fixed(100.0 * r.accuracy, 2), c.has_branchy ? fixed(100.0 * p.accuracy_change, 2) + (p.misses_max_drop ? " !" : "") : "-",
                   percent_shares(r.exit_share), percent_shares(r.exit_accuracy),
                   format_count(static_cast<int64_t>(r.mean_macs)),
                   c.has_oracle ? fixed(100.0 * p.headroom_captured, 0) + "%" : "-",
                   c.has_branchy ? fixed(p.agreement, 3) : "-", fixed(r.latency_us, 1), fixed(r.latency_p99_us, 1),
                   r.predicted_latency_us > 0 ? fixed(r.predicted_latency_us, 1) : "-", fixed(r.throughput, 0),
                   format_count(static_cast<int64_t>(r.mean_buffered_bytes)) + "/" +
                       format_count(static_cast<int64_t>(r.peak_buffered_bytes))});
  }
  return table.render();
}

void write_comparison_plots(const Comparison& c, const std::string& title, const std::string& latency_svg,
                            const std::string& macs_svg) {
  SvgPlot by_latency(title + ": accuracy against latency (batch 1)", "latency per sample (us)", "accuracy");
  SvgPlot by_macs(title + ": accuracy against mean MACs", "mean MACs per sample", "accuracy");
  for (const PolicyComparison& p : c.policies) {
    by_latency.add_series(p.report->name, {p.report->latency_us}, {p.report->accuracy}, SeriesStyle::points);
    by_macs.add_series(p.report->name, {p.report->mean_macs}, {p.report->accuracy}, SeriesStyle::points);
  }
  by_latency.save(latency_svg);
  by_macs.save(macs_svg);
}

}  // namespace branchy
