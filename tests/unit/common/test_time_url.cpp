#include <catch2/catch.hpp>

#include "qw/fs_util.h"
#include "qw/time_util.h"
#include "qw/token.h"
#include "qw/url.h"

TEST_CASE("rfc3339 round trip and unix seconds") {
  CHECK(qw::rfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(qw::parseTimeArg("2026-11-25T06:26:59Z") == int64_t{1795588019000});
  CHECK(qw::parseTimeArg("2026-11-25T07:26:59+01:00") == int64_t{1795588019000});
  CHECK(qw::parseTimeArg("1795588019") == int64_t{1795588019000});
  CHECK(qw::rfc3339(1795588019000) == "2026-11-25T06:26:59Z");
  CHECK_FALSE(qw::parseTimeArg("yesterday"));
  CHECK_FALSE(qw::parseTimeArg("2026-13-01T00:00:00Z"));
}

TEST_CASE("URLs") {
  auto u = qw::parseUrl("ws://127.0.0.1:9479/v1/stream");
  REQUIRE(u);
  CHECK(u->host == "127.0.0.1");
  CHECK(u->port == "9479");
  CHECK(u->target == "/v1/stream");
  CHECK_FALSE(u->tls());
  auto s = qw::parseUrl("https://[::1]");
  REQUIRE(s);
  CHECK(s->host == "::1");
  CHECK(s->port == "443");
  CHECK(s->target == "/");
  CHECK_FALSE(qw::parseUrl("ftp://x"));
  CHECK_FALSE(qw::parseUrl("http://host:99999/"));
  CHECK_FALSE(qw::parseUrl("127.0.0.1:2379"));
}

TEST_CASE("hex member ids and constant-time compare") {
  CHECK(qw::hex64(15705641180906400628ull) == "d9f5a57125ac2b74");
  CHECK(qw::hex64(388176995579983103ull) == "56314ebbb85f4ff");
  CHECK(qw::constantTimeEquals("secret", "secret"));
  CHECK_FALSE(qw::constantTimeEquals("secret", "secreT"));
  CHECK_FALSE(qw::constantTimeEquals("secret", "secret2"));
  CHECK(qw::randomHexId().size() == 32);
}
