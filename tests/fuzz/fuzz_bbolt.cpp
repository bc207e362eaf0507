// libFuzzer target: the input is a whole snapshot file, read by the bbolt reader and checked by
// checkTrailer. Both must give an answer (ok, or an error in words) for any bytes: a crash, a
// sanitizer report, a hang or a big allocation is a finding. scripts/fuzz.sh builds and runs it.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "qw/snapshot/bbolt.h"
#include "qw/snapshot/snapshot_file.h"

namespace {

// One in-memory file for every input, opened by path as the agent opens a snapshot.
int inputFd() {
  static int fd = [] {
    int f = memfd_create("qw-fuzz-bbolt", 0);
    if (f < 0) {
      perror("memfd_create");
      abort();
    }
    return f;
  }();
  return fd;
}

void require(bool cond, const char* what) {
  if (!cond) {
    fprintf(stderr, "fuzz_bbolt: invariant broken: %s\n", what);
    abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = inputFd();
  if (ftruncate(fd, 0) != 0) abort();
  for (size_t done = 0; done < size;) {
    ssize_t n = pwrite(fd, data + done, size - done, off_t(done));
    if (n <= 0) abort();
    done += size_t(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);

  qw::snapshot::BboltOptions bo;
  bo.drop_cache = false;
  auto r = qw::snapshot::readEtcdSnapshot(path, bo);
  require(r.ok == r.error.empty(), "ok exactly when there is no error");
  require(r.ok == (r.failed == qw::snapshot::BboltFailure::kNone), "ok exactly when no failure");
  if (r.ok) {
    require(r.pages_walked + r.pages_free + r.pages_unreached == r.high_water,
            "every page in use is walked, free or unreached");
    require(r.high_water * r.page_size <= r.db_bytes, "the pages in use lie in the db");
    require(r.tombstones <= r.key_entries, "tombstones are key entries");
    require(!r.live_keys_known || r.live_keys <= r.key_entries - r.tombstones,
            "live keys are at most the puts");
    require(r.key_entries <= r.total_entries, "key entries are entries");
    require(r.revision >= r.compact_revision, "the revision is at least the compaction's");
  } else {
    require(r.buckets.empty() && r.key_entries == 0, "a refused file keeps no etcd data");
  }

  qw::snapshot::TrailerOptions to;
  to.chunk_bytes = 4096;
  auto t = qw::snapshot::checkTrailer(path, to);
  require(t.complete == t.reason.empty(), "complete exactly when there is no reason");
  require(t.complete == (t.failed == qw::snapshot::TrailerFailure::kNone),
          "complete exactly when no failure");
  require(t.size == size, "the size is the input's");
  if (t.complete) require(t.sha256 == t.trailer && t.db_bytes + 32 == size, "a whole trailer");
  return 0;
}
