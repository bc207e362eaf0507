#pragma once
namespace qw::aggregator {
// The dashboard page served at "/": one static file that polls the JSON API.
extern const char* const kDashboardPage;
}  // namespace qw::aggregator
