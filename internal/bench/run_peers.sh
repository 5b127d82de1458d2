#!/usr/bin/env bash
# run_peers.sh - dnspin beside its peers: end-to-end benchmark of local
# forwarding DNS resolvers (dnsmasq, unbound, and dnspin as the extra peer)
# against the Go "upstream" authoritative server (internal/bench/upstream)
# and the Go "ceiling" server (internal/bench/ceiling), all on loopback.
# See docs/benchmarks.md.
#
# USAGE
#   ./run_peers.sh [--reps N] [--dur S] [--no-pin] [--skip-outage] [--out DIR]
#                  [--extra 'BIN ARGS' --extra-addr IP:PORT [--extra-name NAME]]
#                  [--pinned 'BIN ARGS' --pinned-addr IP:PORT [--pinned-name NAME]]
#
#   --reps N        repetitions of every throughput/latency measurement (default 3)
#   --dur S         seconds per saturating dnsperf run (default 4)
#   --no-pin        do not pin (default: servers on CPU0, dnsperf+upstream on CPU1)
#   --skip-outage   skip the outage (upstream DROP) timing phase
#   --out DIR       where logs/raw results go (default /tmp/dnsbench/run-<time>)
#   --extra CMD     start CMD as an additional peer (pinned like the others).
#                   Placeholders: {UPSTREAM} -> 127.0.0.53:5301, {UPHOST},
#                   {UPPORT}, {ADDR} -> the --extra-addr value, {HOST}, {PORT}.
#                   The peer must forward *.example.test to {UPSTREAM} and
#                   listen on UDP {ADDR}. It is stopped (SIGTERM, by PID) at exit.
#   --extra-addr A  IP:PORT the extra peer listens on (loopback only), e.g. 127.0.0.9:5399
#   --extra-name N  label in the tables (default: extra)
#   --pinned CMD    start CMD as a peer that answers example.test from pins
#                   (dnspin with mode = "pinned", example.test protected and
#                   pinned as "*.example.test"): measured on the hit names as
#                   workload "pinned", beside the others' cache hits. Same
#                   placeholders as --extra.
#   --pinned-addr A IP:PORT the pinned peer listens on, e.g. 127.0.0.10:5398
#   --pinned-name N label in the tables (default: dnspin-pinned)
#
#   Example (dnspin; write a config with listen = [{ADDR}], upstreams = [{UPSTREAM}]):
#     ./run_peers.sh --extra '/tmp/dnspin run --config /tmp/peer.toml' \
#                    --extra-addr 127.0.0.9:5399 --extra-name dnspin
#
# REQUIRES  dnsperf dnsmasq unbound dig (apt-get install -y dnsperf dnsmasq unbound
#           bind9-dnsutils), Go (/usr/local/go/bin), curl, taskset. Run as root
#           (dnsmasq/unbound are started with --user=root / username "").
# WHAT IT DOES  (all traffic to 127.0.0.0/8 only; every load run bounded by -l/-n)
#   1. builds ./upstream and ./ceiling, starts all servers on their own 127.0.0.x:53xx
#   2. per rep: "hit" (100 names, cached, looping) and "miss" (unique names,
#      forwarded) saturating runs with dnsperf -c 10 -q 100; fixed-rate latency
#      runs (hit @20k qps, miss @5k qps) with dnsperf -v for p50/p99
#   3. RSS idle / mid-miss-load / peak (VmHWM)
#   4. outage: warm a name with TTL 2, upstream -> DROP, wait 3 s, time
#      dig +tries=1 +time=10 for: expired name, uncached name, expired again,
#      uncached again (peers in parallel, queries in sequence; <= 40 s)
#   Prints medians over reps and ratios vs the ceiling server of the same rep.
set -u
SELF_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$SELF_DIR/../.." && pwd)
export PATH=$PATH:/usr/local/go/bin

REPS=3; DUR=4; PIN=1; OUTAGE=1; OUT=""
EXTRA=""; EXTRA_ADDR=""; EXTRA_NAME="extra"
PINNED=""; PINNED_ADDR=""; PINNED_NAME="dnspin-pinned"
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=$2; shift 2;;
    --dur) DUR=$2; shift 2;;
    --no-pin) PIN=0; shift;;
    --skip-outage) OUTAGE=0; shift;;
    --out) OUT=$2; shift 2;;
    --extra) EXTRA=$2; shift 2;;
    --extra-addr) EXTRA_ADDR=$2; shift 2;;
    --extra-name) EXTRA_NAME=$2; shift 2;;
    --pinned) PINNED=$2; shift 2;;
    --pinned-addr) PINNED_ADDR=$2; shift 2;;
    --pinned-name) PINNED_NAME=$2; shift 2;;
    -h|--help) sed -n '2,48p' "$0"; exit 0;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
if [ -n "$EXTRA" ] && [ -z "$EXTRA_ADDR" ]; then echo "--extra needs --extra-addr" >&2; exit 2; fi
if [ -n "$EXTRA_ADDR" ]; then
  case "$EXTRA_ADDR" in 127.*:*) ;; *) echo "--extra-addr must be 127.x.x.x:PORT" >&2; exit 2;; esac
fi
if [ -n "$PINNED" ] && [ -z "$PINNED_ADDR" ]; then echo "--pinned needs --pinned-addr" >&2; exit 2; fi
if [ -n "$PINNED_ADDR" ]; then
  case "$PINNED_ADDR" in 127.*:*) ;; *) echo "--pinned-addr must be 127.x.x.x:PORT" >&2; exit 2;; esac
fi
for b in dnsperf dnsmasq unbound dig go curl taskset awk; do
  command -v $b >/dev/null || { echo "missing $b (apt-get install -y dnsperf dnsmasq unbound bind9-dnsutils)" >&2; exit 2; }
done
[ -n "$OUT" ] || OUT=/tmp/dnsbench/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT" "$OUT/bin"
T_START=$(date +%s)

# ---------------------------------------------------------------- addresses
UP_H=127.0.0.53;  UP_P=5301; UP_CTL=127.0.0.53:5380
declare -A HOST PORT PID
setaddr() { HOST[$1]=$2; PORT[$1]=$3; }
setaddr ceiling        127.0.0.54 5302
setaddr dnsmasq-addr   127.0.0.55 5303   # dnsmasq answering from address=/ table
setaddr dnsmasq        127.0.0.56 5304   # forwarder, cache-size=10000
setaddr dnsmasq-c150   127.0.0.57 5305   # forwarder, Debian default cache-size=150
setaddr unbound        127.0.0.58 5306   # forwarder, serve-expired: no (default)
setaddr dnsmasq-stale  127.0.0.59 5307   # forwarder, --use-stale-cache, cache 10000
setaddr unbound-se1800 127.0.0.60 5308   # serve-expired yes, client-timeout 1800
setaddr unbound-se0    127.0.0.61 5309   # serve-expired yes, client-timeout 0
HIT_PEERS="ceiling dnsmasq-addr dnsmasq dnsmasq-c150 unbound"
MISS_PEERS="upstream-direct dnsmasq dnsmasq-c150 unbound"
OUTAGE_PEERS="dnsmasq dnsmasq-stale unbound unbound-se1800 unbound-se0"
if [ -n "$EXTRA" ]; then
  setaddr "$EXTRA_NAME" "${EXTRA_ADDR%:*}" "${EXTRA_ADDR##*:}"
  HIT_PEERS="$HIT_PEERS $EXTRA_NAME"; MISS_PEERS="$MISS_PEERS $EXTRA_NAME"
  OUTAGE_PEERS="$OUTAGE_PEERS $EXTRA_NAME"
fi
PINNED_PEERS=""
if [ -n "$PINNED" ]; then
  setaddr "$PINNED_NAME" "${PINNED_ADDR%:*}" "${PINNED_ADDR##*:}"
  PINNED_PEERS="$PINNED_NAME"
fi
setaddr upstream-direct $UP_H $UP_P

if [ $PIN = 1 ]; then SRV_CPU="taskset -c 0"; GEN_CPU="taskset -c 1"; else SRV_CPU=""; GEN_CPU=""; fi
DNSPERF_ARGS="-c 10 -q 100 -t 5"

log() { echo "[$(( $(date +%s) - T_START ))s] $*" >&2; }

# ---------------------------------------------------------------- cleanup
STARTED=()
cleanup() {
  for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${STARTED[@]}"; do wait "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- port check
for n in upstream-direct ceiling dnsmasq-addr dnsmasq dnsmasq-c150 unbound dnsmasq-stale unbound-se1800 unbound-se0; do
  if ss -Hlun "sport = :${PORT[$n]}" | grep -q .; then echo "UDP port ${PORT[$n]} ($n) already in use" >&2; exit 3; fi
done
if ss -Hltn "sport = :${UP_CTL##*:}" | grep -q .; then echo "TCP port ${UP_CTL} already in use" >&2; exit 3; fi

# ---------------------------------------------------------------- build
log "building Go servers"
(cd "$REPO" && go build -o "$OUT/bin/upstream" ./internal/bench/upstream) || exit 4
(cd "$REPO" && go build -o "$OUT/bin/ceiling" ./internal/bench/ceiling) || exit 4

# ---------------------------------------------------------------- configs
ubconf() { # name serve-expired client-timeout
  cat > "$OUT/$1.conf" <<EOF
server:
  interface: ${HOST[$1]}@${PORT[$1]}
  port: ${PORT[$1]}
  interface-automatic: no
  do-ip6: no
  num-threads: 1
  chroot: ""
  username: ""
  directory: "$OUT"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 1
  do-not-query-localhost: no
  module-config: "iterator"
  local-zone: "test." nodefault
  access-control: 127.0.0.0/8 allow
  serve-expired: $2
  serve-expired-client-timeout: $3
remote-control:
  control-enable: no
forward-zone:
  name: "."
  forward-addr: $UP_H@$UP_P
EOF
}
ubconf unbound no 0; ubconf unbound-se1800 yes 1800; ubconf unbound-se0 yes 0
DMBASE="--conf-file=/dev/null --keep-in-foreground --no-resolv --no-hosts --no-poll --bind-interfaces --user=root --pid-file="

start() { # name cpu-prefix cmd...
  local n=$1; shift; local pre=$1; shift
  $pre "$@" > "$OUT/$n.log" 2>&1 &
  PID[$n]=$!; STARTED+=($!)
}
start upstream "$GEN_CPU" "$OUT/bin/upstream" -addr $UP_H:$UP_P -ctl $UP_CTL -ttl 3600
PID[upstream-direct]=${PID[upstream]}
start ceiling "$SRV_CPU" "$OUT/bin/ceiling" -addr ${HOST[ceiling]}:${PORT[ceiling]} -names 1000
start dnsmasq-addr "$SRV_CPU" dnsmasq $DMBASE --listen-address=${HOST[dnsmasq-addr]} --port=${PORT[dnsmasq-addr]} --address=/example.test/198.18.0.1
start dnsmasq "$SRV_CPU" dnsmasq $DMBASE --listen-address=${HOST[dnsmasq]} --port=${PORT[dnsmasq]} --server=$UP_H#$UP_P --cache-size=10000
start dnsmasq-c150 "$SRV_CPU" dnsmasq $DMBASE --listen-address=${HOST[dnsmasq-c150]} --port=${PORT[dnsmasq-c150]} --server=$UP_H#$UP_P
start dnsmasq-stale "$SRV_CPU" dnsmasq $DMBASE --listen-address=${HOST[dnsmasq-stale]} --port=${PORT[dnsmasq-stale]} --server=$UP_H#$UP_P --cache-size=10000 --use-stale-cache
for u in unbound unbound-se1800 unbound-se0; do start $u "$SRV_CPU" unbound -d -c "$OUT/$u.conf"; done
subst() { # cmd name addr -> cmd with the placeholders filled in
  local e=$1 UP="$UP_H:$UP_P"
  e=${e//\{UPSTREAM\}/$UP}; e=${e//\{UPHOST\}/$UP_H}; e=${e//\{UPPORT\}/$UP_P}
  e=${e//\{ADDR\}/$3}; e=${e//\{HOST\}/${HOST[$2]}}; e=${e//\{PORT\}/${PORT[$2]}}
  echo "$e"
}
if [ -n "$EXTRA" ]; then
  e=$(subst "$EXTRA" "$EXTRA_NAME" "$EXTRA_ADDR")
  log "extra peer: $e"
  start "$EXTRA_NAME" "$SRV_CPU" bash -c "exec $e"
fi
if [ -n "$PINNED" ]; then
  e=$(subst "$PINNED" "$PINNED_NAME" "$PINNED_ADDR")
  log "pinned peer: $e"
  start "$PINNED_NAME" "$SRV_CPU" bash -c "exec $e"
fi

ready() { # name
  local i
  for i in $(seq 1 40); do
    if dig +short +tries=1 +time=1 @${HOST[$1]} -p ${PORT[$1]} h0.example.test A 2>/dev/null | grep -q '^[0-9]'; then return 0; fi
    kill -0 ${PID[$1]} 2>/dev/null || { echo "$1 died; log:" >&2; tail -5 "$OUT/$1.log" >&2; return 1; }
    sleep 0.25
  done
  echo "$1 not ready" >&2; return 1
}
for n in upstream-direct ceiling dnsmasq-addr dnsmasq dnsmasq-c150 dnsmasq-stale unbound unbound-se1800 unbound-se0 ${EXTRA:+$EXTRA_NAME} $PINNED_PEERS; do
  ready $n || exit 5
done
log "all servers ready; output in $OUT"

# ---------------------------------------------------------------- helpers
rss_kb() { awk '/^VmRSS/{print $2}' /proc/$1/status 2>/dev/null || echo NA; }
hwm_kb() { awk '/^VmHWM/{print $2}' /proc/$1/status 2>/dev/null || echo NA; }
ticks()  { awk '{print $14+$15}' /proc/$1/stat 2>/dev/null || echo 0; }
CLK=$(getconf CLK_TCK)
for i in $(seq 0 99); do echo "h$i.example.test A"; done > "$OUT/hit.txt"
genmiss() { awk -v p="$1" -v n="$2" 'BEGIN{for(i=0;i<n;i++) printf "m%s-%d.example.test A\n", p, i}' > "$OUT/miss.txt"; }
RES="$OUT/results.tsv"; : > "$RES"     # rep peer workload qps avg_ms lost cpu_util rss_mid_kb
LAT="$OUT/latency.tsv"; : > "$LAT"     # rep peer workload p50_ms p99_ms n lost
MEM="$OUT/memory.tsv"; : > "$MEM"      # peer idle_kb peak_kb end_kb

# saturating run: rep peer workload file [extra dnsperf args]
satrun() {
  local rep=$1 n=$2 w=$3 f=$4; shift 4
  local pid=${PID[$n]} t0 t1 o="$OUT/dp-$rep-$n-$w.txt" mid="$OUT/mid.$$"
  t0=$(ticks $pid)
  ( sleep $(awk -v d=$DUR 'BEGIN{print d/2}'); rss_kb $pid > "$mid" ) &
  local sp=$!
  $GEN_CPU dnsperf -s ${HOST[$n]} -p ${PORT[$n]} -d "$f" -l $DUR $DNSPERF_ARGS "$@" > "$o" 2>&1
  t1=$(ticks $pid); wait $sp
  awk -v rep=$rep -v n=$n -v w=$w -v dt=$((t1-t0)) -v clk=$CLK -v mid="$(cat $mid)" '
    /Queries lost/{lost=$3} /Queries per second/{q=$4} /Average Latency/{a=$4*1000}
    /Run time/{rt=$4}
    END{u=(rt>0)?dt/clk/rt:0; printf "%s\t%s\t%s\t%.0f\t%.3f\t%s\t%.2f\t%s\n", rep,n,w,q,a,lost,u,mid}' "$o" >> "$RES"
  rm -f "$mid"
}
# fixed-rate latency run: rep peer workload file qps
latrun() {
  local rep=$1 n=$2 w=$3 f=$4 qps=$5; shift 5
  local o="$OUT/lat-$rep-$n-$w.txt"
  $GEN_CPU dnsperf -s ${HOST[$n]} -p ${PORT[$n]} -d "$f" -l 2 -Q $qps $DNSPERF_ARGS -v "$@" > "$o" 2>&1
  grep '^> ' "$o" | awk '$NF ~ /^[0-9.]+$/{print $NF*1000}' | sort -g > "$o.sorted"
  local cnt; cnt=$(wc -l < "$o.sorted")
  local lost; lost=$(awk '/Queries lost/{print $3}' "$o")
  if [ "$cnt" -gt 0 ]; then
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" $rep $n $w \
      "$(sed -n "$(( (cnt*50+99)/100 ))p" "$o.sorted")" "$(sed -n "$(( (cnt*99+99)/100 ))p" "$o.sorted")" $cnt "$lost" >> "$LAT"
  fi
  rm -f "$o.sorted"; grep -v '^> ' "$o" > "$o.tmp"; mv "$o.tmp" "$o"   # keep only the summary
}

# ---------------------------------------------------------------- idle RSS + warm-up
declare -A IDLE
for n in $HIT_PEERS $PINNED_PEERS upstream-direct; do IDLE[$n]=$(rss_kb ${PID[$n]}); done
log "warm-up (1 s hit load per peer)"
for n in $HIT_PEERS $PINNED_PEERS; do
  $GEN_CPU dnsperf -s ${HOST[$n]} -p ${PORT[$n]} -d "$OUT/hit.txt" -l 1 $DNSPERF_ARGS > /dev/null 2>&1
done

# ---------------------------------------------------------------- throughput + latency
for rep in $(seq 1 $REPS); do
  log "rep $rep/$REPS: hit"
  for n in $HIT_PEERS; do satrun $rep $n hit "$OUT/hit.txt"; done
  for n in $PINNED_PEERS; do satrun $rep $n pinned "$OUT/hit.txt"; done
  log "rep $rep/$REPS: miss"
  for n in $MISS_PEERS; do
    genmiss "r$rep${n//[^a-z0-9]/}" 600000
    satrun $rep $n miss "$OUT/miss.txt" -n 1
  done
  log "rep $rep/$REPS: fixed-rate latency"
  for n in $HIT_PEERS; do latrun $rep $n hit "$OUT/hit.txt" 20000; done
  for n in $PINNED_PEERS; do latrun $rep $n pinned "$OUT/hit.txt" 20000; done
  for n in $MISS_PEERS; do
    genmiss "l$rep${n//[^a-z0-9]/}" 12000
    latrun $rep $n miss "$OUT/miss.txt" 5000 -n 1
  done
done
rm -f "$OUT/miss.txt"
for n in $HIT_PEERS $PINNED_PEERS upstream-direct; do
  printf "%s\t%s\t%s\t%s\n" $n "${IDLE[$n]}" "$(hwm_kb ${PID[$n]})" "$(rss_kb ${PID[$n]})" >> "$MEM"
done

# ---------------------------------------------------------------- outage
OUTF="$OUT/outage.tsv"; : > "$OUTF"
timed_dig() { # peer name -> "ms status answer"
  local t0 t1 o st ans qt
  t0=$(date +%s%N)
  o=$(dig +tries=1 +time=10 +noall +comments +answer +stats @${HOST[$1]} -p ${PORT[$1]} "$2" A 2>&1)
  t1=$(date +%s%N)
  st=$(echo "$o" | sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -1)
  [ -n "$st" ] || st=TIMEOUT
  ans=$(echo "$o" | awk '$4=="A"{print $5"/ttl"$2; exit}')
  qt=$(echo "$o" | sed -n 's/.*Query time: \([0-9]*\) msec.*/\1/p')
  [ -n "$qt" ] || qt=$(( (t1-t0)/1000000 ))
  echo "$qt $st ${ans:--}"
}
outage_peer() { # peer stale-name new-name
  local p=$1 r1 r2 r3 r4
  r1=$(timed_dig $p "$2"); r2=$(timed_dig $p "$3"); r3=$(timed_dig $p "$2"); r4=$(timed_dig $p "$3")
  printf "%s\t%s\t%s\t%s\t%s\n" "$p" "$r1" "$r2" "$r3" "$r4" > "$OUT/outage-$p.tsv"
}
if [ $OUTAGE = 1 ]; then
  log "outage: warm TTL=2 name, upstream -> drop"
  TAG=$(date +%s)
  curl -s "http://$UP_CTL/ttl?set=2" > /dev/null
  for p in $OUTAGE_PEERS; do dig +short +tries=1 +time=2 @${HOST[$p]} -p ${PORT[$p]} "o$TAG.example.test" A > "$OUT/outage-warm-$p.txt"; done
  curl -s "http://$UP_CTL/mode?set=drop" > /dev/null
  sleep 3
  OPIDS=()
  for p in $OUTAGE_PEERS; do outage_peer $p "o$TAG.example.test" "n$TAG.example.test" & OPIDS+=($!); done
  for p in "${OPIDS[@]}"; do wait $p; done
  for p in $OUTAGE_PEERS; do cat "$OUT/outage-$p.tsv" >> "$OUTF"; done
  curl -s "http://$UP_CTL/mode?set=ok" > /dev/null; curl -s "http://$UP_CTL/ttl?set=3600" > /dev/null
fi

# ---------------------------------------------------------------- report
med() { sort -g | awk '{a[NR]=$1} END{if(NR==0){print "NA"; exit} if(NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -F'\t' -v n="$1" -v w="$2" -v c="$3" '$2==n && $3==w {print $c}' "$4"; }
ratio_col() { # peer workload -> ratio per rep vs ceiling hit
  awk -F'\t' -v n="$1" -v w="$2" '$2=="ceiling"&&$3=="hit"{c[$1]=$4} $2==n&&$3==w{q[$1]=$4}
    END{for(r in q) if(c[r]>0) printf "%.3f\n", q[r]/c[r]}' "$RES"
}
echo
echo "== dnsperf $DNSPERF_ARGS, ${DUR}s runs, $REPS reps, medians; pin=$PIN (servers CPU0, dnsperf+upstream CPU1)"
echo "   x_ceil = QPS / ceiling-hit QPS of the same rep; qps/core = QPS / server CPU utilisation"
printf "%-16s %-5s %9s %7s %6s %9s %8s %7s %11s %11s\n" peer load QPS x_ceil cpu qps/core avg_ms lost p50/p99ms rss_mid_MB
for w in hit miss pinned; do
  case $w in hit) peers=$HIT_PEERS;; miss) peers=$MISS_PEERS;; pinned) peers=$PINNED_PEERS;; esac
  for n in $peers; do
    q=$(col $n $w 4 "$RES" | med); a=$(col $n $w 5 "$RES" | med); u=$(col $n $w 7 "$RES" | med)
    l=$(col $n $w 6 "$RES" | med); rm=$(col $n $w 8 "$RES" | med)
    x=$(ratio_col $n $w | med)
    qc=$(awk -F'\t' -v n=$n -v w=$w '$2==n&&$3==w&&$7>0{printf "%.0f\n",$4/$7}' "$RES" | med)
    p50=$(col $n $w 4 "$LAT" | med); p99=$(col $n $w 5 "$LAT" | med)
    printf "%-16s %-5s %9.0f %7s %6s %9s %8s %7s %11s %11s\n" $n $w "$q" "$x" "$u" "$qc" "$a" "$l" \
      "$(printf '%.3f/%.3f' "$p50" "$p99" 2>/dev/null)" "$(awk -v k="$rm" 'BEGIN{printf "%.1f", k/1024}')"
  done
done
echo "   p50/p99 from fixed-rate dnsperf -v runs: hit and pinned @20k qps, miss @5k qps (2 s each)"
echo "   pinned = the hit names answered from pins (mode pinned), no cache involved"
echo "   per core vs the ceiling: (qps/core) / (ceiling's qps/core), medians over reps:"
for n in $HIT_PEERS $PINNED_PEERS; do
  w=hit; case " $PINNED_PEERS " in *" $n "*) w=pinned;; esac
  awk -F'\t' -v n=$n -v w=$w '$2=="ceiling"&&$3=="hit"&&$7>0{c[$1]=$4/$7} $2==n&&$3==w&&$7>0{q[$1]=$4/$7}
    END{for(r in q) if(c[r]>0) printf "%.3f\n", q[r]/c[r]}' "$RES" | med | awk -v n=$n -v w=$w '{printf "     %-16s %-6s %s\n", n, w, $1}'
done
echo
echo "== memory (MB): idle = after start, peak = VmHWM after all load, end = VmRSS after all load"
printf "%-16s %8s %8s %8s\n" peer idle peak end
awk -F'\t' '{printf "%-16s %8.1f %8.1f %8.1f\n", $1, $2/1024, $3/1024, $4/1024}' "$MEM"
if [ $OUTAGE = 1 ]; then
  echo
  echo "== outage: upstream DROP, name cached with TTL 2 then expired (3 s); dig +tries=1 +time=10"
  echo "   each cell: ms status answer/ttl  (TIMEOUT = no reply within 10 s)"
  echo "   queries run in this order per peer (peers in parallel): expired, uncached, expired again, uncached again"
  printf "%-16s | %-28s | %-28s | %-28s | %-28s\n" peer "expired name" "uncached name" "expired name (2nd)" "uncached name (2nd)"
  awk -F'\t' '{printf "%-16s | %-28s | %-28s | %-28s | %-28s\n", $1, $2, $3, $4, $5}' "$OUTF"
fi
echo
echo "versions: $(dnsmasq --version | head -1 | awk '{print "dnsmasq",$3}'), $(unbound -V | awk '/^Version/{print "unbound",$2}'), $(dnsperf -h 2>&1 | awk '/^Version/{print "dnsperf",$2}'), $(go version | awk '{print $3}'), miekg/dns $(awk '/miekg\/dns /{print $NF}' "$REPO/go.mod")"
echo "raw: $OUT (results.tsv latency.tsv memory.tsv outage.tsv, dnsperf outputs)   total $(( $(date +%s) - T_START ))s"
