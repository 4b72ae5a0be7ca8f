#!/usr/bin/env bash
# The figures of README.md "Performance": every benchmark, REPEAT times each (the machine is
# noisy: report medians). Output: one file per run under bench/out/ (git-ignored) and a summary.
#   bench/all.sh [REPEAT]     (~35 min on a 2-core machine with REPEAT=3)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
REPEAT=${1:-3}
OUT=bench/out/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
run() {  # name, args...
  local name=$1; shift
  for i in $(seq 1 "$REPEAT"); do
    echo "== $name #$i: $*"
    $PY "$@" >"$OUT/$name-$i.txt" 2>&1; echo "   exit $?"
  done
}
run fanout-c200-r100   bench/fanout.py --clients 200 --rate 100 --duration 10
run fanout-c1000       bench/fanout.py --clients 1000 --messages 1000
run fanout-c1000-batch bench/fanout.py --clients 1000 --messages 1000 --batch
run ingest             bench/ingest.py --messages 5000 --concurrency 32
run slow               bench/slow_consumer.py --clients 50 --messages 10000 --rate 200
REPEAT=1 run connections-10k bench/connections.py --sockets 10000 --idle 40
$PY bench/compression.py >"$OUT/compression.txt" 2>&1
grep -H -E "ratio C/B|CPU per delivery|latency p99|deliveries/s|requests/s|applied end|B / mean|slow socket:|idle CPU|peak RSS|connect all" "$OUT"/*.txt
echo "outputs in $OUT"
