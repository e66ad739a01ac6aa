#!/usr/bin/env bash
# Replicated durable writes on one machine (issue #11, item 6): a 3-member etcd 3.4 cluster
# (three `etcd` processes on loopback ports) next to `skiff bench store --members 3`,
# alternating: etcd round, skiff round, ROUNDS times. Prints every JSON line of both
# (`"bench":"etcd"` from bench/etcd-load, `"bench":"store"` from skiff), each prefixed by
# nothing, with `# ...` comment lines between runs, then a side-by-side summary.
#
# Needs: etcd and etcdctl 3.4 (`apt-get install etcd-server etcd-client`), a release build of
# skiff and of bench/etcd-load (built here when missing; etcd-load's build needs `protoc`:
# `apt-get install protobuf-compiler`).
#
# Environment: ROUNDS (2), WRITERS (1,16,256), SECS (10: measured seconds of each etcd run;
# skiff's are fixed at 10, or 0.4 with QUICK=1), QUICK=1 (a smoke run: short runs, 1,024 keys),
# SCRATCH (parent of the data directories; default $TMPDIR or /tmp), OUT (also write the lines
# here), SKIFF / ETCD_LOAD (binaries), CARGO_TARGET_DIR.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
ROUNDS=${ROUNDS:-2}
WRITERS=${WRITERS:-1,16,256}
SECS=${SECS:-10}
QUICK=${QUICK:-0}
SCRATCH=${SCRATCH:-${TMPDIR:-/tmp}}
OUT=${OUT:-/dev/null}
SKIFF=${SKIFF:-$target/release/skiff}
ETCD_LOAD=${ETCD_LOAD:-$target/release/etcd-load}

if [ ! -x "$SKIFF" ]; then
  (cd "$root" && cargo build --release --bin skiff)
fi
if [ ! -x "$ETCD_LOAD" ]; then
  (cd "$root/bench/etcd-load" && CARGO_TARGET_DIR=$target cargo build --release)
fi
command -v etcd >/dev/null || { echo "etcd not found (apt-get install etcd-server etcd-client)" >&2; exit 1; }

etcd_args=(--keys 102400 --secs "$SECS" --warm 1)
skiff_args=()
if [ "$QUICK" = 1 ]; then
  etcd_args=(--keys 1024 --secs 0.4 --warm 0.1)
  skiff_args=(--quick)
fi

results=$(mktemp "$SCRATCH/members3-results.XXXXXX")
pids=()
dir=""
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
  if [ -n "$dir" ]; then rm -rf "$dir"; dir=""; fi
}
trap 'cleanup; rm -f "$results"' EXIT

emit() { tee -a "$results" | tee -a "$OUT"; }

# etcd-baseline.md's flags (defaults otherwise: snapshot-count 100000, heartbeat 100 ms,
# election 1000 ms, no auto-compaction), one member per name on its own ports and data dir.
cluster="m1=http://127.0.0.1:23801,m2=http://127.0.0.1:23802,m3=http://127.0.0.1:23803"
endpoints="http://127.0.0.1:23791,http://127.0.0.1:23792,http://127.0.0.1:23793"
start_etcd() {
  dir=$(mktemp -d "$SCRATCH/members3-etcd.XXXXXX")
  for i in 1 2 3; do
    etcd --name "m$i" --data-dir "$dir/m$i" \
      --listen-client-urls "http://127.0.0.1:2379$i" --advertise-client-urls "http://127.0.0.1:2379$i" \
      --listen-peer-urls "http://127.0.0.1:2380$i" --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
      --initial-cluster "$cluster" --initial-cluster-token skiff-bench --initial-cluster-state new \
      >"$dir/m$i.log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 1 100); do
    if ETCDCTL_API=3 etcdctl --endpoints="$endpoints" endpoint health >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  echo "etcd cluster not healthy within 20 s; logs:" >&2
  tail -n 20 "$dir"/m*.log >&2
  return 1
}

for round in $(seq 1 "$ROUNDS"); do
  echo "# round $round: etcd $(etcd --version | head -1 | awk '{print $3}'), 3 members, load $(cut -d' ' -f1-3 /proc/loadavg)" | emit
  start_etcd
  "$ETCD_LOAD" --endpoints "$endpoints" --writers "$WRITERS" \
    --pids "$(IFS=,; echo "${pids[*]}")" "${etcd_args[@]}" | emit
  cleanup
  echo "# round $round: skiff bench store --members 3, load $(cut -d' ' -f1-3 /proc/loadavg)" | emit
  "$SKIFF" bench store --members 3 --writers "$WRITERS" --json --data-dir "$SCRATCH" "${skiff_args[@]}" | emit
done

# Side by side: median over rounds of each figure.
python3 - "$results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    m = json.loads(line)
    p = m.get("params", {})
    if "writers" not in p:
        continue
    side = "etcd" if m["bench"] == "etcd" else "skiff"
    rows.setdefault((p["via"], p["writers"]), {}).setdefault((side, m["metric"]), []).append(m["value"])
def med(d, side, metric):
    v = d.get((side, metric))
    return statistics.median(v) if v else float("nan")
print("\n# median over rounds (etcd | skiff); latencies in ms, CPU in µs per put (all processes of the cluster + client)")
print(f"{'via':9} {'writers':>7} {'etcd ops/s':>11} {'skiff ops/s':>11} {'ratio':>6} {'etcd p50':>9} {'skiff p50':>9} {'etcd p99':>9} {'skiff p99':>9} {'etcd cpu':>9} {'skiff cpu':>9}")
for (via, writers), d in sorted(rows.items(), key=lambda kv: (kv[0][0] != "leader", kv[0][1])):
    e, s = med(d, "etcd", "put_throughput"), med(d, "skiff", "put_throughput")
    print(f"{via:9} {writers:>7} {e:>11.0f} {s:>11.0f} {s / e if e else float('nan'):>6.2f} "
          f"{med(d, 'etcd', 'put_latency_p50') / 1e3:>9.2f} {med(d, 'skiff', 'put_latency_p50') / 1e3:>9.2f} "
          f"{med(d, 'etcd', 'put_latency_p99') / 1e3:>9.2f} {med(d, 'skiff', 'put_latency_p99') / 1e3:>9.2f} "
          f"{med(d, 'etcd', 'put_cpu_per_op'):>9.0f} {med(d, 'skiff', 'put_cpu_per_op'):>9.0f}")
PY
