#!/usr/bin/env bash
# Cost of live metrics: the same spec run with and without --metrics-listen
# (scraped every 250 ms by this script while it runs), alternating, N rounds, in
# one invocation. Prints the median throughput of each and their ratio.
# Usage: bench/metrics_overhead.sh SHMCHECK_BINARY [SPEC] [ROUNDS]
set -euo pipefail
bin=${1:?usage: bench/metrics_overhead.sh SHMCHECK_BINARY [SPEC] [ROUNDS]}
spec=${2:-$(dirname "$0")/../tests/data/specs/metrics-live.yaml}
rounds=${3:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ops/s of the producer role from a --json suite document.
ops_per_s() {
  python3 - "$1" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))["runs"][0]
ops = sum(sum(r["ops_by_op"].values()) for r in run["roles"] if r["role"] == "producer")
print(ops / run["durations"]["run_s"])
PY
}

scrape() {  # polls /metrics until the run ends
  local port=$1
  while sleep 0.25; do curl -sf "http://127.0.0.1:$port/metrics" >/dev/null || true; [ -e "$tmp/done" ] && break; done
}

off=() on=()
for i in $(seq "$rounds"); do
  "$bin" run "$spec" --quiet --json "$tmp/off.json" >/dev/null
  off+=("$(ops_per_s "$tmp/off.json")")
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -f "$tmp/done"
  scrape "$port" &
  "$bin" run "$spec" --quiet --json "$tmp/on.json" --metrics-listen "127.0.0.1:$port" >/dev/null
  touch "$tmp/done"
  wait
  on+=("$(ops_per_s "$tmp/on.json")")
  echo "round $i: off ${off[-1]} ops/s, on ${on[-1]} ops/s"
done
python3 - "${off[*]}" "${on[*]}" <<'PY'
import statistics, sys
off = [float(x) for x in sys.argv[1].split()]
on = [float(x) for x in sys.argv[2].split()]
m_off, m_on = statistics.median(off), statistics.median(on)
ratio = m_on / m_off
print(f"metrics off: median {m_off:,.0f} ops/s  [{min(off):,.0f} .. {max(off):,.0f}]")
print(f"metrics on:  median {m_on:,.0f} ops/s  [{min(on):,.0f} .. {max(on):,.0f}]")
print(f"ratio on/off: {ratio:.3f}   target >= 0.95   {'PASS' if ratio >= 0.95 else 'MISS'}")
PY
