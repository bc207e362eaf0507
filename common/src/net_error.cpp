#include "qw/net_error.h"

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

namespace qw {

std::string describeNetError(const boost::system::error_code& ec) {
  namespace net = boost::asio;
  namespace beast = boost::beast;
  if (ec == beast::error::timeout || ec == net::error::timed_out) return "timeout";
  if (ec == net::error::connection_refused) return "connection refused";
  if (ec == net::error::connection_reset) return "connection reset";
  if (ec == beast::http::error::end_of_stream || ec == net::error::eof) return "connection closed";
  if (ec == net::error::host_not_found) return "host not found";
  return ec.message();
}

}  // namespace qw
