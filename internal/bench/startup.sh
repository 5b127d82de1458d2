#!/usr/bin/env bash
# startup.sh - time from exec of `dnspin run` to its first answer, with a
# generated config of N pins (docs/benchmarks.md, "Backups and start-up").
#
# USAGE
#   ./startup.sh [--bin PATH] [--pins "100 10000 100000"] [--reps N] [--addr 127.0.0.11:5397]
#
# For each N it writes a config with N plain [[pin]] tables under
# example.test (mode pinned, verification off, no upstream asked); each rep
# starts the binary through ./firstanswer, which asks the last pinned name
# every millisecond until it answers and prints the milliseconds from exec
# and the RSS then. Loopback only; each wait is bounded (30 s); only the
# process it started is stopped, by PID.
set -u
BIN=""; PINS="100 10000 100000"; REPS=3; ADDR=127.0.0.11:5397
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2;;
    --pins) PINS=$2; shift 2;;
    --reps) REPS=$2; shift 2;;
    --addr) ADDR=$2; shift 2;;
    -h|--help) sed -n '2,12p' "$0"; exit 0;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
case "$ADDR" in 127.*:*) ;; *) echo "--addr must be 127.x.x.x:PORT" >&2; exit 2;; esac
DIR=$(mktemp -d /tmp/dnspin-startup.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
REPO=$(cd "$(dirname "$0")/../.." && pwd)
(cd "$REPO" && go build -o "$DIR/firstanswer" ./internal/bench/firstanswer) || exit 4
if [ -z "$BIN" ]; then
  (cd "$REPO" && go build -o "$DIR/dnspin" ./cmd/dnspin) || exit 4
  BIN=$DIR/dnspin
fi
printf "%8s %4s %10s %8s\n" pins rep first_ms rss_MB
for n in $PINS; do
  awk -v n=$n -v a=$ADDR -v d=$DIR 'BEGIN{
    printf "listen = [\"%s\"]\nupstreams = [\"127.0.0.1:9\"]\nmode = \"pinned\"\nstate_dir = \"%s/state\"\ncontrol = \"%s/state/dnspin.sock\"\n[platform]\ndomains = [\"example.test\"]\nverify_interval = \"0s\"\n", a, d, d
    for (i = 0; i < n; i++) printf "\n[[pin]]\nname = \"h%d.example.test\"\na = [\"198.18.%d.%d\"]\naaaa = [\"2001:db8::%x:%x\"]\n", i, int(i/256)%256, i%256, int(i/65536), i%65536
  }' > "$DIR/pins.toml"
  last=h$((n-1)).example.test
  for rep in $(seq 1 $REPS); do
    rm -rf "$DIR/state"
    if r=$("$DIR/firstanswer" -addr "$ADDR" -name "$last" -- "$BIN" run --config "$DIR/pins.toml"); then
      set -- $r
      printf "%8s %4s %10s %8s\n" $n $rep "$1" "$2"
    else
      printf "%8s %4s %10s %8s\n" $n $rep "no answer" "-"
    fi
  done
done
