#include <catch2/catch.hpp>

#include "../../fixture.h"
#include "qw/agent/parse/etcd_parse.h"

using qw::agent::alarmsFromStatusErrors;
using qw::agent::parseAlarms;
using qw::agent::parseHealth;
using qw::agent::parseMemberList;
using qw::agent::parseStatus;

TEST_CASE("status: 3.4 healthy member that is the leader") {
  qw::wire::EtcdSample s;
  REQUIRE_FALSE(parseStatus(fixture("etcd-3.4.23/status-3up-m1-v3.json"), &s));
  CHECK(s.member_id() == 15705641180906400628ull);
  CHECK(s.leader_id() == 15705641180906400628ull);
  CHECK(s.has_leader());
  CHECK(s.is_leader());
  CHECK(s.raft_index() == 12);
  CHECK(s.raft_applied_index() == 12);
  CHECK(s.raft_term() == 2);
  CHECK(s.db_size_bytes() == 20480);
  CHECK(s.db_size_in_use_bytes() == 16384);
  CHECK(s.version() == "3.4.23");
  CHECK(s.status_errors_size() == 0);
  CHECK(s.revision() == 1);
}

TEST_CASE("status: the MVCC revision from the header and absent without one") {
  qw::wire::EtcdSample s;
  REQUIRE_FALSE(parseStatus(fixture("etcd-3.5.16/status-nospace-m1.json"), &s));
  REQUIRE(s.has_revision());
  CHECK(s.revision() == 129);
  // A previous answer's revision does not survive one without it.
  REQUIRE_FALSE(
      parseStatus(R"({"header":{"cluster_id":"1","member_id":"2","raft_term":"3"}})", &s));
  CHECK_FALSE(s.has_revision());
}

TEST_CASE("status: quorum lost on 3.4 and 3.5 has no leader and says why") {
  for (auto f : {"etcd-3.4.23/status-1of3-quorumlost-m1.json",
                 "etcd-3.5.16/status-1of3-quorumlost-m1.json"}) {
    qw::wire::EtcdSample s;
    REQUIRE_FALSE(parseStatus(fixture(f), &s));
    CHECK_FALSE(s.has_leader());
    CHECK_FALSE(s.is_leader());
    CHECK(s.leader_id() == 0);
    REQUIRE(s.status_errors_size() == 1);
    CHECK(s.status_errors(0) == "etcdserver: no leader");
  }
}

TEST_CASE("status: 3.5 spaced JSON with a NOSPACE alarm in errors") {
  qw::wire::EtcdSample s;
  REQUIRE_FALSE(parseStatus(fixture("etcd-3.5.16/status-nospace-m1.json"), &s));
  CHECK(s.member_id() == 5655917419496309306ull);
  CHECK(s.leader_id() == 5554375997830990269ull);
  CHECK_FALSE(s.is_leader());
  CHECK(s.version() == "3.5.16");
  CHECK(s.db_size_bytes() == 17289216);
  REQUIRE(s.status_errors_size() == 1);
  CHECK(s.status_errors(0).find("alarm:NOSPACE") != std::string::npos);
}

TEST_CASE("health with and without reason") {
  qw::wire::EtcdSample a, b, c;
  REQUIRE_FALSE(parseHealth(fixture("etcd-3.4.23/health-2of3-m2.json"), &a));
  CHECK(a.health());
  CHECK(a.health_reason().empty());
  REQUIRE_FALSE(parseHealth(fixture("etcd-3.4.23/health-1of3-quorumlost-m1.json"), &b));
  CHECK_FALSE(b.health());
  REQUIRE_FALSE(parseHealth(fixture("etcd-3.5.16/health-1of3-quorumlost-m1.txt"), &c));
  CHECK(c.has_health());
  CHECK_FALSE(c.health());
  CHECK(c.health_reason() == "RAFT NO LEADER");
}

TEST_CASE("member list: 3.4 members with decimal ids") {
  qw::wire::EtcdSample s;
  REQUIRE_FALSE(parseMemberList(fixture("etcd-3.4.23/memberlist-3up-m1.json"), &s));
  CHECK(s.members_ok());
  REQUIRE(s.members_size() == 3);
  CHECK(s.members(0).id() == 388176995579983103ull);
  CHECK(s.members(0).name() == "m3");
  CHECK(s.members(0).peer_urls(0) == "http://127.0.0.1:24580");
  CHECK(s.members(0).client_urls(0) == "http://127.0.0.1:24579");
  CHECK_FALSE(s.members(0).is_learner());
}

TEST_CASE("member list: an unstarted learner has no name and no client URLs") {
  qw::wire::EtcdSample s;
  REQUIRE_FALSE(parseMemberList(fixture("etcd-3.5.16/memberlist-learner-unstarted-m1.json"), &s));
  REQUIRE(s.members_size() == 4);
  CHECK(s.members(0).is_learner());
  CHECK(s.members(0).name().empty());
  CHECK(s.members(0).client_urls_size() == 0);
  qw::wire::EtcdSample t;
  REQUIRE_FALSE(parseMemberList(fixture("etcd-3.5.16/memberlist-learner-started-m1.json"), &t));
  int learners = 0;
  for (const auto& m : t.members())
    if (m.is_learner()) {
      ++learners;
      CHECK_FALSE(m.name().empty());
    }
  CHECK(learners == 1);
}

TEST_CASE("alarms: none and NOSPACE") {
  qw::wire::EtcdSample a, b;
  REQUIRE_FALSE(parseAlarms(fixture("etcd-3.5.16/alarm-3up-m1.json"), &a));
  CHECK(a.alarms_ok());
  CHECK(a.alarms_size() == 0);
  REQUIRE_FALSE(parseAlarms(fixture("etcd-3.5.16/alarm-nospace-m1.json"), &b));
  REQUIRE(b.alarms_size() == 1);
  CHECK(b.alarms(0).alarm() == "NOSPACE");
  CHECK(b.alarms(0).member_id() == 5655917419496309306ull);
}

TEST_CASE("garbage and gateway errors give clear errors") {
  qw::wire::EtcdSample s;
  CHECK(*parseStatus("<html>", &s) == "status: not a JSON object");
  CHECK(
      parseStatus(
          R"({"error":"etcdserver: request timed out","code":14,"message":"etcdserver: request timed out"})",
          &s)
          ->find("request timed out") != std::string::npos);
  CHECK(parseStatus(R"({"header":{}})", &s));
  CHECK(parseHealth("{}", &s));
  CHECK(parseMemberList("[1,2]", &s));
  CHECK(parseMemberList(R"({"members":[{"name":"x"}]})", &s));
  CHECK(parseAlarms("", &s));
}

TEST_CASE("alarms from the status errors agree with the alarm call") {
  // The same member at the same moment: status errors and the alarm list name one NOSPACE.
  qw::wire::EtcdSample st, al;
  REQUIRE_FALSE(parseStatus(fixture("etcd-3.5.16/status-nospace-m1.json"), &st));
  REQUIRE(alarmsFromStatusErrors(&st));
  REQUIRE_FALSE(parseAlarms(fixture("etcd-3.5.16/alarm-nospace-m1.json"), &al));
  CHECK(st.alarms_ok());
  REQUIRE(st.alarms_size() == al.alarms_size());
  CHECK(st.alarms(0).alarm() == al.alarms(0).alarm());
  CHECK(st.alarms(0).member_id() == al.alarms(0).member_id());

  // Healthy, and quorum lost: no alarm, and "no leader" is not one.
  for (const char* f :
       {"etcd-3.4.23/status-3up-m1-v3.json", "etcd-3.5.16/status-1of3-quorumlost-m1.json",
        "etcd-3.4.23/status-1of3-quorumlost-m1.json"}) {
    INFO(f);
    qw::wire::EtcdSample s;
    REQUIRE_FALSE(parseStatus(fixture(f), &s));
    REQUIRE(alarmsFromStatusErrors(&s));
    CHECK(s.alarms_ok());
    CHECK(s.alarms_size() == 0);
  }
}

TEST_CASE("alarms from status errors: several, CORRUPT, NONE, and entries that do not parse") {
  qw::wire::EtcdSample s;
  s.add_status_errors("etcdserver: no leader");
  s.add_status_errors("memberID:1 alarm:NOSPACE ");
  s.add_status_errors("memberID:18446744073709551615 alarm:CORRUPT ");
  s.add_status_errors("memberID:7 ");  // type 0 (NONE) is omitted from protobuf text
  REQUIRE(alarmsFromStatusErrors(&s));
  REQUIRE(s.alarms_size() == 3);
  CHECK(s.alarms(0).member_id() == 1);
  CHECK(s.alarms(0).alarm() == "NOSPACE");
  CHECK(s.alarms(1).member_id() == 18446744073709551615ull);
  CHECK(s.alarms(1).alarm() == "CORRUPT");
  CHECK(s.alarms(2).alarm() == "NONE");

  // An alarm entry that does not parse leaves the sample alone: the caller asks the alarm call.
  for (const char* bad : {"memberID:x alarm:NOSPACE ", "alarm:NOSPACE", "memberID:3 alarm: "}) {
    INFO(bad);
    qw::wire::EtcdSample t;
    t.add_status_errors(bad);
    CHECK_FALSE(alarmsFromStatusErrors(&t));
    CHECK_FALSE(t.alarms_ok());
  }
}
