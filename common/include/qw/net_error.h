#pragma once
// Transport errors in words, for logs and the API ("connection refused", "timeout"). Shared by the
// aggregator's server side and the agent's client (qw/http_client.h adds the TLS client's own
// error category on top of this).
#include <string>

#include <boost/system/error_code.hpp>

namespace qw {

std::string describeNetError(const boost::system::error_code& ec);

}  // namespace qw
