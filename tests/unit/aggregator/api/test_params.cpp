#include <catch2/catch.hpp>

#include "qw/aggregator/api/params.h"

using namespace qw::aggregator;

TEST_CASE("params: URL decoding keeps '+' and malformed escapes") {
  CHECK(urlDecode("a%20b") == "a b");
  CHECK(urlDecode("%2Fx%2f") == "/x/");
  CHECK(urlDecode("2024-01-01T00:00:00+02:00") == "2024-01-01T00:00:00+02:00");
  CHECK(urlDecode("100%") == "100%");
  CHECK(urlDecode("%4") == "%4");
  CHECK(urlDecode("%zz") == "%zz");
  CHECK(urlDecode("%41%42") == "AB");
  CHECK(urlDecode("") == "");
}

TEST_CASE("params: query parameters of a target") {
  CHECK(queryParams("/api/v1/events").empty());
  CHECK(queryParams("/x?").empty());
  auto q = queryParams("/x?a=1&b=x%20y&flag&&c=&a=2&%6Bey=v%3D1");
  CHECK(q.at("a") == "2");  // the last wins
  CHECK(q.at("b") == "x y");
  CHECK(q.at("flag").empty());
  CHECK(q.at("c").empty());
  CHECK(q.at("key") == "v=1");
  CHECK(q.size() == 5);
  CHECK(targetPath("/api/v1/nodes?x=1") == "/api/v1/nodes");
  CHECK(targetPath("/") == "/");
}

TEST_CASE("params: time, integer and step parameters") {
  std::map<std::string, std::string> q{{"from", "1700000000"}, {"to", "2023-11-14T22:13:20Z"},
                                       {"bad", "yesterday"},   {"empty", ""},
                                       {"limit", "50"},        {"big", "10001"},
                                       {"junk", "5x"}};
  int64_t v = 0;
  std::string err;
  CHECK(timeParam(q, "from", 0, &v, &err));
  CHECK(v == 1700000000000);
  CHECK(timeParam(q, "to", 0, &v, &err));
  CHECK(v == 1700000000000);
  CHECK(timeParam(q, "absent", 42, &v, &err));
  CHECK(v == 42);
  CHECK(timeParam(q, "empty", 43, &v, &err));
  CHECK(v == 43);
  CHECK_FALSE(timeParam(q, "bad", 0, &v, &err));
  CHECK(err.find("bad must be unix seconds or RFC 3339") != std::string::npos);

  CHECK(intParam(q, "limit", 1000, 1, 10000) == 50);
  CHECK(intParam(q, "absent", 1000, 1, 10000) == 1000);
  CHECK_FALSE(intParam(q, "big", 1000, 1, 10000));
  CHECK_FALSE(intParam(q, "junk", 1000, 1, 10000));
  CHECK_FALSE(intParam(q, "bad", 1000, 1, 10000));

  CHECK(stepParam("15") == 15000);
  CHECK(stepParam("0.5") == 500);
  CHECK(stepParam("1m") == 60000);
  CHECK(stepParam("10s") == 10000);
  CHECK_FALSE(stepParam("often"));
  CHECK_FALSE(stepParam(""));
}
