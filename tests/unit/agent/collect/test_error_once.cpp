// Sampler errors logged once per kind (collect/error_once.h), and the most recent error last in
// a sample's `errors`.
#include <catch2/catch.hpp>

#include "qw/agent/collect/error_once.h"
#include "sample.pb.h"

using namespace qw::agent;
using V = std::vector<std::string>;

TEST_CASE("an error kind is logged at first, on a new text, and when it comes back") {
  ErrorOnce e;
  CHECK(e.update("thermal", {{"thermal/zone0", "zone0: EIO"}}) == V{"zone0: EIO"});
  CHECK(e.update("thermal", {{"thermal/zone0", "zone0: EIO"}}).empty());  // the same again
  CHECK(e.active() == 1);
  // Another kind failing alongside is its own first occurrence.
  CHECK(e.update("thermal", {{"thermal/zone0", "zone0: EIO"}, {"thermal/zone1", "zone1: x"}}) ==
        V{"zone1: x"});
  // The text changed: logged again.
  CHECK(e.update("thermal", {{"thermal/zone0", "zone0: cannot parse"},
                             {"thermal/zone1", "zone1: x"}}) == V{"zone0: cannot parse"});
  // A reading of another group clears nothing here.
  CHECK(e.update("load", {}).empty());
  CHECK(e.update("thermal", {{"thermal/zone0", "zone0: cannot parse"}}).empty());
  CHECK(e.active() == 1);  // zone1 read fine: cleared
  CHECK(e.update("thermal", {}).empty());
  CHECK(e.active() == 0);
  // Cleared, then back with the same text: logged again.
  CHECK(e.update("thermal", {{"thermal/zone0", "zone0: cannot parse"}}) ==
        V{"zone0: cannot parse"});
  CHECK(e.update(V{"thermal", "disk"}, {{"disk/disk", "diskstats: EIO"}}) == V{"diskstats: EIO"});
  CHECK(e.active() == 1);
}

TEST_CASE("the sampler that failed last is the last entry and the most recent error") {
  SamplerErrorBook b;
  CHECK(b.mostRecent().empty());
  b.set("etcd", 0, "");
  b.set("host", 1, "thermal: EIO");
  b.set("etcd", 3, "timeout");
  b.set("host", 1, "thermal: EIO");  // same count: no new failure
  CHECK(b.mostRecent() == "etcd: timeout");
  qw::wire::NodeSample s;
  b.fill(&s);
  REQUIRE(s.errors_size() == 2);
  CHECK(s.errors(0).sampler() == "host");
  CHECK(s.errors(1).sampler() == "etcd");
  CHECK(s.errors(1).count() == 3u);
  b.add("host", 1, "load: cannot parse");
  CHECK(b.mostRecent() == "host: load: cannot parse");
  qw::wire::NodeSample t;
  b.fill(&t);
  REQUIRE(t.errors_size() == 2);
  CHECK(t.errors(1).sampler() == "host");
  CHECK(t.errors(1).count() == 2u);
  CHECK(t.errors(1).last_error() == "load: cannot parse");
}
