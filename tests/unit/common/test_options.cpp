#include <catch2/catch.hpp>

#include "qw/options.h"

using namespace std::chrono_literals;

namespace {
struct Cfg {
  std::string name = "n";
  std::vector<std::string> dirs;
  bool verbose = false;
  std::chrono::milliseconds interval{1000};
  int64_t n = 5;
};
qw::Options make(Cfg* c) {
  qw::Options o("prog", "test");
  o.addString("node-name", "name", &c->name);
  o.addList("snapshot-dir", "dirs", &c->dirs);
  o.addFlag("verbose", "v", &c->verbose);
  o.addDuration("fast-interval", "i", &c->interval, 100ms, 1h);
  o.addInt("count", "n", &c->n, 1, 10);
  return o;
}
}  // namespace

TEST_CASE("flags parse in both spellings and keep defaults") {
  Cfg c;
  auto o = make(&c);
  const char* argv[] = {"prog",      "--node-name",    "pi1", "--fast-interval=250ms",
                        "--verbose", "--snapshot-dir", "/a",  "--snapshot-dir=/b"};
  REQUIRE_FALSE(o.parse(8, argv));
  CHECK(c.name == "pi1");
  CHECK(c.interval == 250ms);
  CHECK(c.verbose);
  CHECK(c.dirs == std::vector<std::string>{"/a", "/b"});
  CHECK(c.n == 5);
}

TEST_CASE("config text: comments, repeats, unknown keys and bad values are errors") {
  Cfg c;
  auto o = make(&c);
  REQUIRE_FALSE(
      o.parseConfigText("# c\nnode-name = pi2  # trailing\nsnapshot-dir = /x\n"
                        "snapshot-dir=/y\n\nverbose = true\n",
                        "f"));
  CHECK(c.name == "pi2");
  CHECK(c.dirs.size() == 2);
  CHECK(c.verbose);
  auto err = o.parseConfigText("nodename = x\n", "f");
  REQUIRE(err);
  CHECK(err->find("f:1: unknown key 'nodename'") != std::string::npos);
  CHECK(o.parseConfigText("count = 11\n", "f"));
  CHECK(o.parseConfigText("fast-interval = soon\n", "f"));
  CHECK(o.parseConfigText("just words\n", "f"));
}

TEST_CASE("unknown flag and missing value are reported") {
  Cfg c;
  auto o = make(&c);
  const char* a1[] = {"prog", "--nope"};
  CHECK(o.parse(2, a1)->find("unknown option '--nope'") != std::string::npos);
  const char* a2[] = {"prog", "--node-name"};
  CHECK(o.parse(2, a2)->find("needs a value") != std::string::npos);
  const char* a3[] = {"prog", "stray"};
  CHECK(o.parse(2, a3));
}

TEST_CASE("help lists every option with its default") {
  Cfg c;
  auto o = make(&c);
  const char* argv[] = {"prog", "--help"};
  REQUIRE_FALSE(o.parse(2, argv));
  CHECK(o.helpRequested());
  auto h = o.helpText();
  CHECK(h.find("--fast-interval DURATION") != std::string::npos);
  CHECK(h.find("(default: 1s)") != std::string::npos);
  CHECK(o.dump().find("node-name = n\n") != std::string::npos);
}

TEST_CASE("durations") {
  CHECK(qw::parseDuration("1s") == 1000ms);
  CHECK(qw::parseDuration("1.5s") == 1500ms);
  CHECK(qw::parseDuration("2m") == 120000ms);
  CHECK(qw::parseDuration("250ms") == 250ms);
  CHECK(qw::parseDuration("3") == 3000ms);
  CHECK_FALSE(qw::parseDuration("-1s"));
  CHECK_FALSE(qw::parseDuration("1 fortnight"));
  CHECK(qw::formatDuration(90000ms) == "90s");
  CHECK(qw::formatDuration(120000ms) == "2m");
}

TEST_CASE("a number option takes decimals in range and refuses the rest") {
  double x = 0.5;
  qw::Options o("t", "");
  o.addDouble("ratio", "A ratio.", &x, 0, 1);
  CHECK_FALSE(o.parseConfigText("ratio = 0.25\n", "f"));
  CHECK(x == 0.25);
  CHECK(o.originOf("ratio") == "f:1");
  auto out = o.parseConfigText("ratio = 2\n", "f");
  REQUIRE(out);
  CHECK(out->find("f:1") != std::string::npos);
  CHECK(out->find("between 0 and 1") != std::string::npos);
  CHECK(o.parseConfigText("ratio = nan\n", "f"));
  CHECK(o.parseConfigText("ratio = 0.1x\n", "f"));
  CHECK(x == 0.25);
}
