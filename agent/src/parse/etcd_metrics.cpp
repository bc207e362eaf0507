#include "qw/agent/parse/etcd_metrics.h"

#include <cmath>
#include <map>

#include "qw/agent/parse/prom_parse.h"

namespace qw::agent {

namespace {

using qw::wire::EtcdMetrics;
using qw::wire::Histogram;

uint64_t asCount(double v) { return v > 0 && std::isfinite(v) ? static_cast<uint64_t>(v) : 0; }

// Adds one `_bucket`/`_sum`/`_count` sample to a histogram under construction.
void addHistogramSample(Histogram* h, std::string_view suffix, const PromSample& s) {
  if (suffix == "_bucket") {
    double le = 0;
    if (!parsePromValue(s.label("le"), &le)) return;
    h->add_upper_bounds(le);
    h->add_counts(asCount(s.value));
  } else if (suffix == "_sum") {
    h->set_sum(s.value);
  } else if (suffix == "_count") {
    h->set_count(asCount(s.value));
  }
}

bool startsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The families read below; every other line of etcd's /metrics is skipped unparsed.
bool wanted(std::string_view n) {
  if (startsWith(n, "etcd_")) {
    auto r = n.substr(5);
    return startsWith(r, "server_") || startsWith(r, "mvcc_db_total_size_") ||
           startsWith(r, "disk_wal_fsync_duration_seconds") ||
           startsWith(r, "disk_backend_commit_duration_seconds") || startsWith(r, "network_peer_");
  }
  return n == "process_start_time_seconds";
}

}  // namespace

std::optional<std::string> extractEtcdMetrics(std::string_view text, EtcdMetrics* out) {
  EtcdMetricsReader reader;
  reader.feed(text);
  return reader.finish(out);
}

void EtcdMetricsReader::feed(std::string_view piece) {
  bytes_ += piece.size();
  if (!carry_.empty()) {
    auto nl = piece.find('\n');
    if (nl == std::string_view::npos) {
      carry_.append(piece);
      return;
    }
    carry_.append(piece.substr(0, nl + 1));
    parse(carry_);
    carry_.clear();
    piece.remove_prefix(nl + 1);
  }
  auto last = piece.rfind('\n');
  if (last == std::string_view::npos) {
    carry_.assign(piece);
    return;
  }
  parse(piece.substr(0, last + 1));
  carry_.assign(piece.substr(last + 1));
}

void EtcdMetricsReader::parse(std::string_view text) {
  static constexpr std::string_view kFsync = "etcd_disk_wal_fsync_duration_seconds";
  static constexpr std::string_view kCommit = "etcd_disk_backend_commit_duration_seconds";
  static constexpr std::string_view kRtt = "etcd_network_peer_round_trip_time_seconds";
  EtcdMetrics* out = &m_;
  auto res = parsePrometheusText(
      text, &wanted,
      [&](const PromSample& s) {
        std::string_view n = s.name;
        if (!startsWith(n, "etcd_") && !startsWith(n, "process_")) return;
        if (startsWith(n, "etcd_")) ++etcd_samples_;
        if (n == "etcd_server_has_leader")
          out->set_has_leader(s.value);
        else if (n == "etcd_server_is_leader")
          out->set_is_leader(s.value);
        else if (n == "etcd_server_is_learner")
          out->set_is_learner(s.value);
        else if (n == "etcd_server_leader_changes_seen_total")
          out->set_leader_changes(asCount(s.value));
        else if (n == "etcd_server_proposals_committed_total")
          out->set_proposals_committed(s.value);
        else if (n == "etcd_server_proposals_applied_total")
          out->set_proposals_applied(s.value);
        else if (n == "etcd_server_proposals_pending")
          out->set_proposals_pending(s.value);
        else if (n == "etcd_server_proposals_failed_total")
          out->set_proposals_failed(asCount(s.value));
        else if (n == "etcd_server_slow_apply_total")
          out->set_slow_applies(asCount(s.value));
        else if (n == "etcd_server_heartbeat_send_failures_total")
          out->set_heartbeat_send_failures(asCount(s.value));
        // 3.4 also exports etcd_debugging_mvcc_db_total_size_in_bytes; 3.5 only this one.
        else if (n == "etcd_mvcc_db_total_size_in_bytes")
          out->set_db_total_size_bytes(s.value);
        else if (n == "etcd_mvcc_db_total_size_in_use_in_bytes")
          out->set_db_in_use_bytes(s.value);
        else if (n == "etcd_server_quota_backend_bytes")
          out->set_quota_backend_bytes(s.value);
        else if (n == "etcd_server_version")
          out->set_server_version(std::string(s.label("server_version")));
        else if (n == "process_start_time_seconds")
          out->set_process_start_time_seconds(s.value);
        else if (startsWith(n, kFsync))
          addHistogramSample(out->mutable_wal_fsync(), n.substr(kFsync.size()), s);
        else if (startsWith(n, kCommit))
          addHistogramSample(out->mutable_backend_commit(), n.substr(kCommit.size()), s);
        else if (startsWith(n, kRtt))
          addHistogramSample(&rtt_[std::string(s.label("To"))], n.substr(kRtt.size()), s);
        else if (n == "etcd_network_peer_sent_failures_total")
          sent_failures_[std::string(s.label("To"))] = asCount(s.value);
      },
      lines_ + 1);
  lines_ += res.lines;
  errors_ += res.errors;
  if (first_error_.empty()) first_error_ = res.first_error;
}

std::optional<std::string> EtcdMetricsReader::finish(EtcdMetrics* out) {
  if (!carry_.empty()) parse(carry_);  // a last line without a newline
  m_.set_bytes(static_cast<uint32_t>(bytes_));
  m_.set_parse_errors(static_cast<uint32_t>(errors_));
  for (auto& [to, h] : rtt_) {
    auto* p = m_.add_peer_rtt();
    p->set_to(to);
    *p->mutable_rtt() = std::move(h);
  }
  for (const auto& [to, v] : sent_failures_) {
    auto* p = m_.add_peer_sent_failures();
    p->set_to(to);
    p->set_value(v);
  }
  std::optional<std::string> err;
  if (etcd_samples_ == 0)
    err = "no etcd metrics in " + std::to_string(bytes_) + " bytes" +
          (first_error_.empty() ? "" : " (" + first_error_ + ")");
  out->Swap(&m_);
  *this = EtcdMetricsReader();
  return err;
}

namespace {

// cur - prev, or cur after a reset. Returns false on a reset.
bool counterDelta(uint64_t prev, uint64_t cur, uint64_t* out) {
  if (cur >= prev) {
    *out = cur - prev;
    return true;
  }
  *out = cur;
  return false;
}

bool histogramDelta(const Histogram& prev, const Histogram& cur, Histogram* out) {
  *out = cur;
  bool same_layout = prev.upper_bounds_size() == cur.upper_bounds_size();
  for (int i = 0; same_layout && i < cur.upper_bounds_size(); ++i)
    same_layout = prev.upper_bounds(i) == cur.upper_bounds(i);
  if (!same_layout) return prev.upper_bounds_size() == 0;  // new histogram: all of it is new
  if (cur.count() < prev.count()) return false;
  for (int i = 0; i < cur.counts_size(); ++i) {
    if (cur.counts(i) < prev.counts(i)) {
      *out = cur;
      return false;
    }
    out->set_counts(i, cur.counts(i) - prev.counts(i));
  }
  out->set_count(cur.count() - prev.count());
  out->set_sum(cur.sum() - prev.sum());
  return true;
}

}  // namespace

EtcdMetrics metricsDelta(const EtcdMetrics* prev, const EtcdMetrics& cur, int64_t interval_ms) {
  EtcdMetrics out = cur;
  // Counters and histograms only make sense as deltas: drop them from the first scrape.
  out.clear_leader_changes();
  out.clear_proposals_failed();
  out.clear_slow_applies();
  out.clear_heartbeat_send_failures();
  out.clear_wal_fsync();
  out.clear_backend_commit();
  out.clear_peer_rtt();
  out.clear_peer_sent_failures();
  if (!prev) {
    out.set_interval_ms(0);
    return out;
  }
  out.set_interval_ms(interval_ms);
  // A new process start time means etcd restarted: every counter counts from zero again, even
  // one that happens to be back at its old value.
  if (prev->has_process_start_time_seconds() && cur.has_process_start_time_seconds() &&
      prev->process_start_time_seconds() != cur.process_start_time_seconds()) {
    EtcdMetrics whole = cur;
    whole.set_interval_ms(interval_ms);
    whole.set_counters_reset(true);
    return whole;
  }
  bool ok = true;
  auto counter = [&](bool has_prev, uint64_t p, bool has_cur, uint64_t c, auto set) {
    if (!has_cur) return;
    uint64_t d = c;
    if (has_prev) ok &= counterDelta(p, c, &d);
    set(d);
  };
  counter(prev->has_leader_changes(), prev->leader_changes(), cur.has_leader_changes(),
          cur.leader_changes(), [&](uint64_t d) { out.set_leader_changes(d); });
  counter(prev->has_proposals_failed(), prev->proposals_failed(), cur.has_proposals_failed(),
          cur.proposals_failed(), [&](uint64_t d) { out.set_proposals_failed(d); });
  counter(prev->has_slow_applies(), prev->slow_applies(), cur.has_slow_applies(),
          cur.slow_applies(), [&](uint64_t d) { out.set_slow_applies(d); });
  counter(prev->has_heartbeat_send_failures(), prev->heartbeat_send_failures(),
          cur.has_heartbeat_send_failures(), cur.heartbeat_send_failures(),
          [&](uint64_t d) { out.set_heartbeat_send_failures(d); });
  if (cur.has_wal_fsync())
    ok &= histogramDelta(prev->wal_fsync(), cur.wal_fsync(), out.mutable_wal_fsync());
  if (cur.has_backend_commit())
    ok &=
        histogramDelta(prev->backend_commit(), cur.backend_commit(), out.mutable_backend_commit());
  for (const auto& p : cur.peer_rtt()) {
    const Histogram* before = nullptr;
    for (const auto& q : prev->peer_rtt())
      if (q.to() == p.to()) before = &q.rtt();
    auto* o = out.add_peer_rtt();
    o->set_to(p.to());
    ok &= histogramDelta(before ? *before : Histogram(), p.rtt(), o->mutable_rtt());
  }
  for (const auto& p : cur.peer_sent_failures()) {
    uint64_t before = 0;
    bool had = false;
    for (const auto& q : prev->peer_sent_failures())
      if (q.to() == p.to()) {
        before = q.value();
        had = true;
      }
    auto* o = out.add_peer_sent_failures();
    o->set_to(p.to());
    uint64_t d = p.value();
    if (had) ok &= counterDelta(before, p.value(), &d);
    o->set_value(d);
  }
  out.set_counters_reset(!ok);
  return out;
}

}  // namespace qw::agent
