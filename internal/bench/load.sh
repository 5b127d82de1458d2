#!/usr/bin/env bash
# load.sh - dnspin under load while its upstream fails: are all queries
# answered, and does memory stay bounded? See docs/benchmarks.md.
#
# USAGE
#   internal/bench/load.sh [--qps N] [--dur S] [--flip S] [--cycles N] [--after S]
#                          [--bin PATH] [--out DIR] [--smoke]
#
#   --qps N     queries per second dnsperf sends (default 10000)
#   --dur S     seconds per single fault mode (default 20)
#   --flip S    seconds per mode in the flipping sequence (default 10)
#   --cycles N  rounds of the flipping sequence (default 2; 0: none)
#   --modes L   the single fault modes to run, in order (default
#               "silent servfail slow ok")
#   --after S   seconds RSS is watched after the load (default 60)
#   --bin PATH  the dnspin binary to measure (default: built from this tree)
#   --out DIR   logs and raw data (default /tmp/dnspin-load/run-<time>)
#   --pin       dnspin on CPU 0, dnsperf and the upstream on CPU 1 (Go then runs
#               with GOMAXPROCS=1). Default: unpinned; on a machine busy with
#               other work a pinned dnspin shares one core with all of it
#   --smoke     short run for CI (2000 qps, 3 s per mode, 1 cycle, 5 s after)
#
# WHAT IT DOES  (loopback only; every dnsperf run bounded by -l; stops only
# the processes it started, by PID)
#   1. builds dnspin and internal/bench/upstream (the fault upstream)
#   2. runs in a private network + mount namespace when root (its own
#      loopback: no clash with other servers, nothing reaches the machine's
#      own DNS); else on 127.0.0.70/71 of the host
#   3. starts the upstream (127.0.0.70:5370, TTL 3600) and dnspin
#      (127.0.0.71:5371, platform domain tickets.example.test, one pin)
#   4. warms the cache and learned answers, then drives a mixed load with
#      dnsperf -Q N through each upstream fault mode: silent (drop),
#      servfail, slow (1 s delay), ok; then the flipping sequence
#      silent -> servfail -> slow -> ok every --flip seconds
#   5. samples dnspin's VmRSS, VmHWM, threads and open fds every 0.5 s and
#      watches RSS for --after seconds once the load stops
#   Prints per phase: qps sent, queries lost (dnsperf), rcodes, answer
#   sources (from dnspin status), peak RSS/threads/fds; then peak RSS over
#   the run and RSS after the load.
#
# EXIT  0 every query answered; 1 queries lost that dnspin dropped or never
#       answered; 6 queries lost, but all of them dropped by the kernel on
#       other sockets than dnspin's (dnsperf's own, when the machine is too
#       busy for the load generator); 2-5 setup failures.
#
# The mix per 20 queries: 8 unique unprotected A, 2 unique unprotected AAAA,
# 4 of 200 hot names (cached), 2 pinned (A and AAAA), 2 of 50 protected names
# learned during warm-up, 2 unique protected names (no backup).
#
# REQUIRES  dnsperf dig (apt-get install -y dnsperf bind9-dnsutils), Go,
#           curl, iproute2 and util-linux (unshare) for the namespace.
set -u
SELF_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$SELF_DIR/../.." && pwd)
export PATH=$PATH:/usr/local/go/bin

QPS=10000; DUR=20; FLIP=10; CYCLES=2; AFTER=60; BIN=""; OUT=""; PIN=0; MODES="silent servfail slow ok"
while [ $# -gt 0 ]; do
  case "$1" in
    --qps) QPS=$2; shift 2;;
    --dur) DUR=$2; shift 2;;
    --flip) FLIP=$2; shift 2;;
    --cycles) CYCLES=$2; shift 2;;
    --modes) MODES=$2; shift 2;;
    --after) AFTER=$2; shift 2;;
    --bin) BIN=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    --pin) PIN=1; shift;;
    --smoke) QPS=2000; DUR=3; FLIP=2; CYCLES=1; AFTER=5; shift;;
    --inner) INNER=1; shift;;
    -h|--help) awk 'NR>1 && !/^#/{exit} NR>1{sub(/^# ?/, ""); print}' "$0"; exit 0;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
for b in dnsperf dig go curl awk; do
  command -v $b >/dev/null || { echo "missing $b (apt-get install -y dnsperf bind9-dnsutils curl)" >&2; exit 2; }
done

# ---------------------------------------------------------------- outer: build, then re-run in a namespace
if [ -z "${INNER:-}" ]; then
  [ -n "$OUT" ] || OUT=/tmp/dnspin-load/run-$(date +%Y%m%d-%H%M%S)
  mkdir -p "$OUT/bin"
  echo "building into $OUT/bin" >&2
  if [ -z "$BIN" ]; then
    (cd "$REPO" && CGO_ENABLED=0 go build -o "$OUT/bin/dnspin" ./cmd/dnspin) || exit 4
    BIN=$OUT/bin/dnspin
  fi
  (cd "$REPO" && go build -o "$OUT/bin/upstream" ./internal/bench/upstream) || exit 4
  args=(--qps "$QPS" --dur "$DUR" --flip "$FLIP" --cycles "$CYCLES" --modes "$MODES" --after "$AFTER" --bin "$BIN" --out "$OUT" --inner)
  [ $PIN = 0 ] || args+=(--pin)
  if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null; then
    exec unshare --net --mount --propagation private bash -c 'ip link set lo up && mount -t tmpfs tmpfs /run && exec "$0" "$@"' "$0" "${args[@]}"
  fi
  echo "not root (or no unshare/ip): running on the host's loopback" >&2
  exec "$0" "${args[@]}"
fi

# ---------------------------------------------------------------- inner: the run
UP=127.0.0.70:5370; UP_CTL=127.0.0.70:5380; DP_H=127.0.0.71; DP_P=5371
SRV_CPU=""; GEN_CPU=""
if [ $PIN = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then SRV_CPU="taskset -c 0"; GEN_CPU="taskset -c 1"; fi
# dnsperf's sockets get 4 MiB receive buffers too (-b, KiB): its default is
# small enough that it drops answers itself when it falls behind for a moment.
DNSPERF="$GEN_CPU dnsperf -b 4096"
T0=$(date +%s)
log() { echo "[$(( $(date +%s) - T0 ))s] $*" >&2; }
for p in 5370 5371; do
  if ss -Hlun "sport = :$p" 2>/dev/null | grep -q .; then echo "UDP port $p already in use" >&2; exit 3; fi
done

STARTED=()
cleanup() {
  for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${STARTED[@]}"; do wait "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT/state"
cat > "$OUT/dnspin.toml" <<EOF
listen = ["$DP_H:$DP_P"]
upstreams = ["$UP"]
mode = "auto"
state_dir = "$OUT/state"
control = "$OUT/dnspin.sock"

[platform]
name = "Bench Tickets"
domains = ["tickets.example.test"]

[[pin]]
name = "shop.tickets.example.test"
a = ["192.0.2.10"]
aaaa = ["2001:db8::10"]
EOF

$GEN_CPU "$OUT/bin/upstream" -addr $UP -ctl $UP_CTL -ttl 3600 > "$OUT/upstream.log" 2>&1 &
STARTED+=($!)
# gctrace: one line per collection in dnspin.log (heap sizes, for reading the RSS figures)
GODEBUG=gctrace=1 $SRV_CPU "$BIN" run --config "$OUT/dnspin.toml" > "$OUT/dnspin.log" 2>&1 &
DPID=$!; STARTED+=($DPID)

ready=0
for i in $(seq 1 40); do
  if dig +short +tries=1 +time=1 @$DP_H -p $DP_P h0.example.test A 2>/dev/null | grep -q '^198\.'; then ready=1; break; fi
  kill -0 $DPID 2>/dev/null || break
  sleep 0.25
done
[ $ready = 1 ] || { echo "dnspin not ready; log:" >&2; tail -20 "$OUT/dnspin.log" >&2; exit 5; }

rss()  { awk '/^VmRSS/{print $2}' /proc/$DPID/status 2>/dev/null; }
hwm()  { awk '/^VmHWM/{print $2}' /proc/$DPID/status 2>/dev/null; }
mode() { curl -s "http://$UP_CTL/mode?set=$1" > /dev/null; }
delay() { curl -s "http://$UP_CTL/delay?set=$1" > /dev/null; }
fault() { # silent | servfail | slow | ok
  case $1 in
    silent) delay 0; mode drop;;
    servfail) delay 0; mode servfail;;
    slow) mode ok; delay 1s;;
    ok) delay 0; mode ok;;
  esac
}
answers() { # answer counters from dnspin's status, as "src=N ..."
  "$BIN" status --json --config "$OUT/dnspin.toml" 2>/dev/null |
    tr -d ' \n' | sed -n 's/.*"answers":{\([^}]*\)}.*/\1/p' | tr ',' '\n' | tr -d '"' | tr ':' '=' | sort | tr '\n' ' '
}
# Queries the kernel dropped because a socket's receive buffer was full:
# on dnspin's listening socket (/proc/net/udp "drops"), and in all (the
# namespace's Udp RcvbufErrors: dnsperf's and the upstream's sockets too).
sockdrops() { awk -v p=$(printf ':%04X' $DP_P) 'NR>1 && $2 ~ p"$" {d += $NF} END{print d+0}' /proc/net/udp; }
alldrops() { awk '/^Udp:/{if(!h){for(i=1;i<=NF;i++)c[$i]=i; h=1} else print $c["RcvbufErrors"]}' /proc/net/snmp; }
IDLE_RSS=$(rss)

# The sampler: one line per 0.5 s (seconds, phase, rss kB, hwm kB, threads, fds).
echo idle > "$OUT/phase"
SAMPLES="$OUT/samples.tsv"; : > "$SAMPLES"
(
  while kill -0 $DPID 2>/dev/null; do
    printf "%s\t%s\t%s\t%s\t%s\t%s\n" "$(date +%s.%N | cut -c1-14)" "$(cat "$OUT/phase")" \
      "$(rss)" "$(hwm)" "$(awk '/^Threads/{print $2}' /proc/$DPID/status 2>/dev/null)" \
      "$(ls /proc/$DPID/fd 2>/dev/null | wc -l)" >> "$SAMPLES"
    sleep 0.5
  done
) &
SAMPLER=$!; STARTED+=($SAMPLER)

# Warm-up: hot names cached, protected names learned (upstream ok).
log "warm-up (dnspin pid $DPID, idle RSS $(( IDLE_RSS / 1024 )) MB)"
{ for i in $(seq 0 199); do echo "h$i.example.test A"; done
  for i in $(seq 0 49); do echo "w$i.tickets.example.test A"; echo "w$i.tickets.example.test AAAA"; done
} > "$OUT/warm.txt"
$DNSPERF -s $DP_H -p $DP_P -d "$OUT/warm.txt" -n 1 -q 50 -t 5 > "$OUT/dp-warm.txt" 2>&1

# genmix TAG N: the mixed query file for one phase (unique names per phase).
genmix() {
  awk -v t="$1" -v n="$2" 'BEGIN{
    for (i = 0; i < n; i++) {
      k = i % 20
      if (k < 8)       printf "u%s-%d.example.test A\n", t, i
      else if (k < 10) printf "u%s-%d.example.test AAAA\n", t, i
      else if (k < 14) printf "h%d.example.test A\n", i % 200
      else if (k == 14) print "shop.tickets.example.test A"
      else if (k == 15) print "shop.tickets.example.test AAAA"
      else if (k < 18) printf "w%d.tickets.example.test A\n", i % 50
      else             printf "p%s-%d.tickets.example.test A\n", t, i
    }}' > "$OUT/mix-$1.txt"
}

RES="$OUT/phases.tsv"; : > "$RES"   # phase sent lost qps rcodes sources
# phase NAME SECONDS [flip]: one dnsperf run; with "flip" the upstream
# cycles through the fault modes every $FLIP seconds meanwhile.
phase() {
  local name=$1 secs=$2 flip=${3:-}
  genmix "$name" $(( QPS * (secs + 1) ))
  local before; before=$(answers)
  local d0 a0; d0=$(sockdrops); a0=$(alldrops)
  echo "$name" > "$OUT/phase"
  local fp=""
  if [ -n "$flip" ]; then
    ( for c in $(seq 1 $CYCLES); do for m in silent servfail slow ok; do
        fault $m; echo "$(date +%s) $m" >> "$OUT/flips.txt"; sleep $FLIP
      done; done ) &
    fp=$!; STARTED+=($fp)
  fi
  $DNSPERF -s $DP_H -p $DP_P -d "$OUT/mix-$name.txt" -n 1 -l $secs -Q $QPS -c 8 -q 60000 -t 5 > "$OUT/dp-$name.txt" 2>&1
  [ -n "$fp" ] && wait $fp 2>/dev/null
  rm -f "$OUT/mix-$name.txt"
  local after; after=$(answers)
  local drops="$(( $(sockdrops) - d0 ))/$(( $(alldrops) - a0 ))"
  awk -v p="$name" -v b="$before" -v a="$after" -v dr="$drops" '
    /Queries sent/{s=$3} /Queries lost/{l=$3} /Queries per second/{q=$4}
    /Response codes/{sub(/.*Response codes: */, ""); gsub(/ \([0-9.]+%\)/, ""); gsub(/, /, ","); rc=$0}
    END{
      n = split(b, x, " "); for (i = 1; i <= n; i++) { split(x[i], kv, "="); B[kv[1]] = kv[2] }
      n = split(a, y, " "); src = ""
      for (i = 1; i <= n; i++) { split(y[i], kv, "="); d = kv[2] - B[kv[1]]; if (d > 0) src = src kv[1] "=" d "," }
      sub(/,$/, "", src)
      printf "%s\t%s\t%s\t%.0f\t%s\t%s\t%s\n", p, s, l, q, rc, src, dr }' "$OUT/dp-$name.txt" >> "$RES"
  log "$name: $(tail -1 "$RES" | cut -f2-)"
}

for m in $MODES; do
  case $m in silent|servfail|slow|ok) ;; *) echo "unknown mode $m (silent servfail slow ok)" >&2; exit 2;; esac
  fault $m
  phase $m $DUR
done
: > "$OUT/flips.txt"
[ "$CYCLES" -gt 0 ] && phase flipping $(( FLIP * 4 * CYCLES )) flip
fault ok

echo after > "$OUT/phase"
END_T=$(date +%s)
log "load done; watching RSS for ${AFTER}s"
sleep "$AFTER"
RSS_AFTER=$(rss)
HWM=$(hwm)
kill $SAMPLER 2>/dev/null; wait $SAMPLER 2>/dev/null

# ---------------------------------------------------------------- report
echo
echo "== dnspin under ${QPS} qps mixed load, upstream faults: ${DUR}s per mode, then flipping every ${FLIP}s (${CYCLES}x)"
printf "%-9s %8s %7s %8s %11s %7s %7s %6s  %s\n" phase sent lost lost% drops rss_MB threads fds "rcodes | answer sources"
while IFS=$'\t' read -r p s l q rc src dr; do
  awk -F'\t' -v p="$p" '$2==p{if($3>r)r=$3; if($5>t)t=$5; if($6>f)f=$6} END{printf "%.1f %d %d\n", r/1024, t, f}' "$SAMPLES" | {
    read -r r t f
    printf "%-9s %8s %7s %7.2f%% %11s %7s %7s %6s  %s | %s\n" "$p" "$s" "$l" "$(awk -v s="$s" -v l="$l" 'BEGIN{print (s>0)?100*l/s:0}')" "$dr" "$r" "$t" "$f" "$rc" "$src"
  }
done < "$RES"
echo "   drops: queries the kernel dropped on dnspin's socket / on all sockets (full receive buffers)"
echo "   rss_MB/threads/fds: peak of the 0.5 s samples during the phase"
UNDER=$(awk -F'\t' -v e="$END_T" '$2=="after" && $3 < 32768 {printf "%.0f\n", $1 - e; exit}' "$SAMPLES")
# the last reading, taken after the samples, counts too
if [ -z "$UNDER" ] && [ -n "$RSS_AFTER" ] && [ "$RSS_AFTER" -lt 32768 ]; then UNDER=$AFTER; fi
LOST=$(awk -F'\t' '{l += $3} END{print l+0}' "$RES")
DNSPIN_DROPS=$(awk -F'\t' '{split($7, d, "/"); n += d[1]} END{print n+0}' "$RES")
OTHER_DROPS=$(awk -F'\t' '{split($7, d, "/"); n += d[2] - d[1]} END{print n+0}' "$RES")
echo
printf "idle RSS %.1f MB | peak RSS (VmHWM) %.1f MB | RSS %ss after the load %.1f MB | under 32 MB %s | queries lost %s\n" \
  "$(awk -v k="$IDLE_RSS" 'BEGIN{print k/1024}')" "$(awk -v k="$HWM" 'BEGIN{print k/1024}')" "$AFTER" \
  "$(awk -v k="$RSS_AFTER" 'BEGIN{print k/1024}')" "$( [ -n "$UNDER" ] && echo "${UNDER}s after the load" || echo "not within ${AFTER}s" )" "$LOST"
echo "kernel drops: $DNSPIN_DROPS on dnspin's socket, $OTHER_DROPS on other sockets; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "target: 0 lost, peak RSS <= 64 MB, under 32 MB within 60 s after"
echo "raw: $OUT (phases.tsv samples.tsv dp-*.txt dnspin.log upstream.log)   total $(( $(date +%s) - T0 ))s"
if [ "$LOST" = 0 ]; then exit 0; fi
if [ "$DNSPIN_DROPS" = 0 ] && [ "$LOST" -le "$OTHER_DROPS" ]; then exit 6; fi
exit 1
