#!/usr/bin/env bash
# misses_ab.sh - cache misses per core of several dnspin builds, side by side
# in one run: the same upstream, runs alternating between the builds, so a
# busy machine weighs on all of them alike. See docs/benchmarks.md "Misses".
#
# USAGE  ./misses_ab.sh [--reps N] [--dur S] [--direct] BIN...
#          e.g. ./misses_ab.sh /tmp/dnspin-main /tmp/dnspin-branch
#   --direct  also measure the upstream answering dnsperf directly (row "d"):
#             the limit the miss target is set against (qps per core of the
#             upstream process itself)
# REQUIRES dnsperf, taskset, Go (builds internal/bench/upstream). Loopback only:
#   upstream 127.0.0.53:5301 (control :5380), build i on 127.0.0.9:54<i>; each
#   build on CPU 0, dnsperf and the upstream on CPU 1; every dnsperf run bounded
#   by -l. Stops only the processes it started (by PID).
set -u
SELF_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$SELF_DIR/../.." && pwd)
export PATH=$PATH:/usr/local/go/bin
REPS=3; DUR=3; DIRECT=0
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=$2; shift 2;;
    --dur) DUR=$2; shift 2;;
    --direct) DIRECT=1; shift;;
    -h|--help) sed -n '2,14p' "$0"; exit 0;;
    *) break;;
  esac
done
[ $# -ge 1 ] && [ $# -le 9 ] || { echo "give 1 to 9 dnspin binaries" >&2; exit 2; }
for b in dnsperf taskset go awk; do command -v $b >/dev/null || { echo "missing $b" >&2; exit 2; }; done
D=$(mktemp -d /tmp/misses-ab.XXXXXX)
STARTED=()
cleanup() { for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null; done; for p in "${STARTED[@]}"; do wait "$p" 2>/dev/null; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM
(cd "$REPO" && go build -o "$D/upstream" ./internal/bench/upstream) || exit 4
taskset -c 1 "$D/upstream" -addr 127.0.0.53:5301 -ctl 127.0.0.53:5380 -ttl 3600 > "$D/upstream.log" 2>&1 &
UPPID=$!
STARTED+=($!)
declare -A PID
i=0
for b in "$@"; do
  i=$((i+1)); mkdir -p "$D/s$i"
  cat > "$D/c$i.toml" <<EOT
listen = ["127.0.0.9:54$i"]
upstreams = ["127.0.0.53:5301"]
state_dir = "$D/s$i"
control = "$D/s$i/dnspin.sock"
[platform]
name = "Bench"
domains = ["tickets.example.test"]
verify_interval = "0s"
EOT
  taskset -c 0 "$b" run --config "$D/c$i.toml" > "$D/dnspin$i.log" 2>&1 &
  PID[$i]=$!; STARTED+=($!)
done
sleep 2
for j in $(seq 1 $i); do kill -0 ${PID[$j]} 2>/dev/null || { echo "build $j did not start:"; tail -3 "$D/dnspin$j.log"; exit 5; }; done
CLK=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
# measure LABEL PID HOST PORT: one dnsperf run of new names, qps per core of PID
measure() {
  awk -v p="r$rep-$1" 'BEGIN{for(k=0;k<400000;k++) printf "m%s-%d.example.test A\n", p, k}' > "$D/miss.txt"
  local t0 t1 o
  t0=$(ticks $2)
  o=$(taskset -c 1 dnsperf -s $3 -p $4 -d "$D/miss.txt" -l $DUR -c 10 -q 100 -t 5 -n 1 2>&1)
  t1=$(ticks $2)
  echo "$o" | awk -v b=$1 -v dt=$((t1-t0)) -v clk=$CLK '/Queries per second/{q=$4} /Run time/{rt=$4} /Queries lost/{l=$3}
    END{u=dt/clk/rt; printf "%s\t%.0f\t%.2f\t%.0f\t%s\n", b, q, u, (u>0?q/u:0), l}' >> "$D/results.tsv"
}
for rep in $(seq 1 $REPS); do
  [ $DIRECT = 1 ] && measure d $UPPID 127.0.0.53 5301
  for j in $(seq 1 $i); do measure $j ${PID[$j]} 127.0.0.9 54$j; done
done
echo "build  qps/core (median of $REPS)  per run (qps/core, cpu)"
rows=$(seq 1 $i); [ $DIRECT = 1 ] && rows="d $rows"
for j in $rows; do
  med=$(awk -F'\t' -v b=$j '$1==b{print $4}' "$D/results.tsv" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  runs=$(awk -F'\t' -v b=$j '$1==b{printf "%s/%s ", $4, $3}' "$D/results.tsv")
  what="upstream answering directly"; [ $j = d ] || what=$(eval echo \${$j})
  printf "%-6s %-26s %s  %s\n" $j "$med" "$runs" "$what"
done
echo "raw: $D"
