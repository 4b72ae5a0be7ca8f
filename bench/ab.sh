#!/usr/bin/env bash
# Before/after in one invocation: the fan-out and ingest benchmarks of bench/all.sh, run
# alternately on REF (checked out into a temp worktree) and on this working tree, REPEAT times
# each, so both see the same machine weather. Prints each run's key lines and the medians.
#   bench/ab.sh REF [REPEAT]      e.g. bench/ab.sh 39023c5 3   (~25 min on 2 cores with REPEAT=3)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=$PWD/.venv/bin/python
REF=${1:?usage: bench/ab.sh REF [REPEAT]}
REPEAT=${2:-3}
OUT=bench/out/ab-$(date +%Y%m%d-%H%M%S)
BEFORE=$(mktemp -d)/before
mkdir -p "$OUT"
git worktree add -q --detach "$BEFORE" "$REF" || exit 1
trap 'git worktree remove --force "$BEFORE"' EXIT
# Both sides run the same (current) bench scripts; only the server code (run.py, app/) differs.
rm -rf "$BEFORE/bench" && cp -r bench "$BEFORE/bench" && rm -rf "$BEFORE/bench/out"
# Custom Graph API bases need the operator's consent since issue 7 (ingest points Cloud at a stand-in).
export CONDORITO_ALLOW_CUSTOM_API_BASE=1
run() {  # side dir name args...
  local side=$1 dir=$2 name=$3; shift 3
  echo "== $name $side #$i"
  (cd "$dir" && $PY "$@") >"$OUT/$name-$side-$i.txt" 2>&1; echo "   exit $?"
}
for i in $(seq 1 "$REPEAT"); do
  for side in before after; do
    dir=$PWD; [ $side = before ] && dir=$BEFORE
    run $side "$dir" fanout-c200-r100 bench/fanout.py --only condorito --clients 200 --rate 100 --duration 10
    run $side "$dir" fanout-c1000 bench/fanout.py --only condorito --clients 1000 --messages 1000
    run $side "$dir" ingest bench/ingest.py --messages 5000 --concurrency 32
  done
done
$PY bench/ab_summary.py "$OUT" "$REPEAT"
echo "outputs in $OUT"
