// The snapshot stream of etcd's gateway (captured from etcd 3.4 and 3.5) decoded into the file
// etcdctl would write, its failures, and what takeSnapshot refuses before it asks etcd.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "../../common/snapshot/snapshot_fixture.h"
#include "qw/agent/collect/snapshot_take.h"
#include "qw/snapshot/bbolt.h"
#include "qw/snapshot/snapshot_file.h"

using qw::agent::GatewaySnapshotDecoder;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& rel) {
  return snapfix::readAll(std::string(QW_FIXTURES) + "/" + rel);
}

std::string decodeIn(const std::string& stream, size_t piece, std::optional<std::string>* err) {
  std::string out;
  GatewaySnapshotDecoder d([&](std::string_view b) { out.append(b); });
  for (size_t i = 0; i < stream.size() && !*err; i += piece)
    *err = d.feed(std::string_view(stream).substr(i, piece));
  if (!*err) *err = d.finish();
  return out;
}

}  // namespace

TEST_CASE("the gateway's snapshot stream decodes into a complete, sound snapshot",
          "[snapshot-take]") {
  for (const char* v : {"etcd-3.4.23", "etcd-3.5.16"}) {
    INFO(v);
    std::string stream = fixture(std::string(v) + "/snap_gateway.json");
    std::optional<std::string> err;
    std::string whole = decodeIn(stream, stream.size(), &err);
    REQUIRE(!err);
    REQUIRE(whole.size() % 512 == 32);
    for (size_t piece : {1, 7, 4096, 65536}) {
      std::optional<std::string> e;
      CHECK(decodeIn(stream, piece, &e) == whole);
      CHECK(!e);
    }
    snapfix::TempDir tmp;
    std::string path = tmp.path() + "/taken.db";
    snapfix::writeAll(path, whole);
    auto tr = qw::snapshot::checkTrailer(path, {});
    CHECK(tr.complete);
    auto info = qw::snapshot::readEtcdSnapshot(path, {});
    CHECK(info.ok);
    CHECK(!info.members.empty());
  }
}

TEST_CASE("a broken snapshot stream ends with a clear error", "[snapshot-take]") {
  auto run = [](const std::string& stream) {
    std::optional<std::string> err;
    decodeIn(stream, 5, &err);
    return err.value_or("");
  };
  CHECK(run("") == "etcd's snapshot stream held no data");
  CHECK(run("\n\n") == "etcd's snapshot stream held no data");
  CHECK(run("not json\n") == "line 1 of etcd's snapshot stream is not JSON");
  CHECK(run("{\"result\":{\"blob\":\"QUJD\"}}\n[1,2]\n") ==
        "line 2 of etcd's snapshot stream is not JSON");
  CHECK(run("{\"error\":{\"grpc_code\":14,\"message\":\"etcdserver: request timed out\"}}\n") ==
        "etcd: etcdserver: request timed out");
  CHECK(run("{\"result\":{\"blob\":\"!!!!\"}}\n") ==
        "line 1 of etcd's snapshot stream: the blob is not base64");
  CHECK(run("{\"result\":{\"blob\":12}}\n") ==
        "line 1 of etcd's snapshot stream: the blob is not a string");
  CHECK(run("{\"other\":1}\n") == "line 1 of etcd's snapshot stream has no result");
  // No newline at the end: the last line still counts.
  CHECK(run("{\"result\":{\"blob\":\"QUJD\"}}") == "");
  std::string huge = "{\"result\":{\"blob\":\"" + std::string(5u << 20, 'A');
  CHECK(run(huge) == "a line of etcd's snapshot stream is longer than 4 MiB");
}

TEST_CASE("takeSnapshot refuses what it cannot do and leaves nothing behind", "[snapshot-take]") {
  snapfix::TempDir tmp;
  qw::agent::SnapshotTakeConfig cfg;
  cfg.etcd_endpoint = "http://127.0.0.1:1";  // nothing listens there
  cfg.dir = tmp.path();
  cfg.flavor = "etcd";
  qw::wire::TakeSnapshot req;
  qw::wire::SnapshotTaken out;

  auto k3s = cfg;
  k3s.flavor = "k3s";
  auto e = qw::agent::takeSnapshot(k3s, req, &out);
  REQUIRE(e);
  CHECK(e->find("k3s takes its own") != std::string::npos);

  auto nodir = cfg;
  nodir.dir.clear();
  e = qw::agent::takeSnapshot(nodir, req, &out);
  REQUIRE(e);
  CHECK(e->find("no --snapshot-dir") != std::string::npos);

  auto bad = req;
  bad.set_prefix("../etc/");
  e = qw::agent::takeSnapshot(cfg, bad, &out);
  REQUIRE(e);
  CHECK(e->find("is not [A-Za-z0-9._-]+") != std::string::npos);

  auto big = req;
  big.set_expected_bytes(uint64_t{1} << 60);
  e = qw::agent::takeSnapshot(cfg, big, &out);
  REQUIRE(e);
  CHECK(e->find("not enough free space in " + tmp.path()) != std::string::npos);

  // A leftover .part of an earlier take goes; etcd down is an error with no .part left.
  snapfix::writeAll(tmp.path() + "/quorumwatch-20260101T000000Z.db.part", "partial");
  e = qw::agent::takeSnapshot(cfg, req, &out);
  REQUIRE(e);
  INFO(*e);
  CHECK(e->find("etcd's snapshot stream") != std::string::npos);
  CHECK(fs::is_empty(tmp.path()));
}

TEST_CASE("snapshot names sort by time and prefixes stay in their dir", "[snapshot-take]") {
  CHECK(qw::agent::takenSnapshotName("quorumwatch-", 1764758848123) ==
        "quorumwatch-20251203T104728Z.db");
  CHECK(qw::agent::takenSnapshotName("a", 0) == "a19700101T000000Z.db");
  CHECK(qw::agent::validSnapshotPrefix("quorumwatch-"));
  CHECK(qw::agent::validSnapshotPrefix("etcd.backup_1-"));
  for (const char* bad : {"", ".", "..", "a/b", "../x", "a b", "x\n"})
    CHECK_FALSE(qw::agent::validSnapshotPrefix(bad));
}
