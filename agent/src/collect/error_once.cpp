#include "qw/agent/collect/error_once.h"

#include <algorithm>
#include <set>

namespace qw::agent {

std::vector<std::string> ErrorOnce::update(const std::vector<std::string>& groups,
                                           const std::vector<Failure>& failures) {
  std::vector<std::string> out;
  std::set<std::string> failed;
  for (const auto& [kind, text] : failures) {
    failed.insert(kind);
    auto& k = kinds_[kind];
    if (!k.active || k.text != text) out.push_back(text);
    k.active = true;
    k.text = text;
  }
  for (auto& [kind, k] : kinds_) {
    if (!k.active || failed.count(kind)) continue;
    auto slash = kind.find('/');
    std::string group = kind.substr(0, slash);
    if (std::find(groups.begin(), groups.end(), group) != groups.end()) k.active = false;
  }
  return out;
}

std::vector<std::string> ErrorOnce::update(const std::string& group,
                                           const std::vector<Failure>& failures) {
  return update(std::vector<std::string>{group}, failures);
}

size_t ErrorOnce::active() const {
  size_t n = 0;
  for (const auto& [kind, k] : kinds_) n += k.active;
  return n;
}

void SamplerErrorBook::set(const std::string& sampler, uint64_t count,
                           const std::string& last_error) {
  if (count == 0) return;
  for (auto& e : entries_) {
    if (e.sampler != sampler) continue;
    if (count != e.count) {
      e.count = count;
      e.last_error = last_error;
      e.order = ++next_order_;
    }
    return;
  }
  entries_.push_back({sampler, count, last_error, ++next_order_});
}

void SamplerErrorBook::add(const std::string& sampler, uint64_t count,
                           const std::string& last_error) {
  uint64_t have = 0;
  for (const auto& e : entries_)
    if (e.sampler == sampler) have = e.count;
  set(sampler, have + count, last_error);
}

void SamplerErrorBook::fill(qw::wire::NodeSample* s) const {
  std::vector<const Entry*> v;
  for (const auto& e : entries_) v.push_back(&e);
  std::sort(v.begin(), v.end(), [](const Entry* a, const Entry* b) { return a->order < b->order; });
  for (const auto* e : v) {
    auto* out = s->add_errors();
    out->set_sampler(e->sampler);
    out->set_count(e->count);
    out->set_last_error(e->last_error);
  }
}

std::string SamplerErrorBook::mostRecent() const {
  const Entry* best = nullptr;
  for (const auto& e : entries_)
    if (!best || e.order > best->order) best = &e;
  return best ? best->sampler + ": " + best->last_error : "";
}

}  // namespace qw::agent
