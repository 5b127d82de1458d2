#!/usr/bin/env bash
# Windows e2e under Wine (CI: .ci/run). Builds the Windows binaries for the
# test only, a throwaway WINEPREFIX, and runs the Go tests in this folder
# (build tag `wine`) against the real dnspin.exe, its named pipe, the
# registry, Wine's service manager and msiexec.
#
#   packaging/wine/test.sh [-run REGEXP] [-keep]
#
# What is test-only (release builds stay byte for byte as packaging/release.sh
# makes them):
#   - bcryptprimitives.dll, built here from shim/bcryptprimitives.c with mingw:
#     Go >= 1.22 needs ProcessPrng, which Wine 8 lacks;
#   - a build overlay (go build -overlay) of $GOROOT/src/net/fd_windows.go
#     that ignores WSAEOPNOTSUPP from the SIO_UDP_NETRESET ioctl, which Wine 8
#     does not know (every UDP socket would fail with winapi error #10045).
# Everything runs in a network namespace of its own (only its loopback is
# up): Wine's sockets are made by wineserver in the namespace it started in,
# so dnspin.exe can take 127.0.0.1:53 there without touching this machine.
# The prefix is made once per run (~20 s) and stopped with `wineserver -k`
# on every exit, failure or not.
# Needs root and: wine64 gcc-mingw-w64-x86-64-win32 iproute2 util-linux wixl msitools
# xvfb xdotool imagemagick (the tray test: Wine's virtual desktop on Xvfb).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export PATH="$PATH:/usr/local/go/bin"
WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver

if [ "${1:-}" = --inner ]; then
  # In the namespace: loopback up, prefix, shim, tests; wineserver -k always.
  T=$2
  shift 2
  export WINEPREFIX=$T/prefix WINEDEBUG=-all
  # n: our shim; mscoree/mshtml off: no Mono or Gecko dialogs.
  export WINEDLLOVERRIDES="bcryptprimitives=n;mscoree,mshtml="
  trap '"$WINESERVER" -k 2>/dev/null || true' EXIT
  ip link set lo up
  t=$(date +%s)
  "$WINE" wineboot -i >"$T/wineboot.log" 2>&1 || { cat "$T/wineboot.log"; echo "FAIL: wineboot -i" >&2; exit 1; }
  cp "$T/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
  # How long the service manager waits for a started service to connect:
  # Windows' default is 30 s, Wine's 3 s, too short for a Go service on a
  # loaded machine ("Service request timeout"). Read when services.exe starts.
  "$WINE" reg add 'HKLM\SYSTEM\CurrentControlSet\Control' /v ServicesPipeTimeout /t REG_DWORD /d 30000 /f >/dev/null
  # One wineserver for the whole run: without -p it exits 3 s after the
  # last process, and each later wine64 call would start it and the
  # prefix's services again (~10 s per `reg query` on a loaded machine).
  "$WINESERVER" -w # wineboot's server gone, then a persistent one
  "$WINESERVER" -p
  echo "-- prefix ready in $(($(date +%s) - t))s"
  cd "$here"
  DNSPIN_WINE_DIR=$T "$T/winetest.test" -test.v -test.count=1 -test.timeout=15m "$@"
  exit
fi

run=()
keep=no
while [ $# -gt 0 ]; do
  case "$1" in
    -run) run=(-test.run "$2"); shift 2 ;;
    -keep) keep=yes; shift ;;
    *) echo "$0: unknown argument $1 (see the comment at the top)" >&2; exit 2 ;;
  esac
done
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (network namespace)"
for t in "$WINE" "$WINESERVER" x86_64-w64-mingw32-gcc unshare ip wixl msibuild Xvfb xdotool import compare convert; do
  command -v "$t" >/dev/null || fail "$t missing: apt-get install -y wine64 gcc-mingw-w64-x86-64-win32 iproute2 util-linux wixl msitools xvfb xdotool imagemagick"
done
t0=$(date +%s)
step() { echo "-- [$(($(date +%s) - t0))s] $*"; }

T=$(mktemp -d /tmp/dnspin-wine.XXXXXX)
if [ "$keep" = yes ]; then
  echo "keeping $T"
else
  trap 'rm -rf "$T"' EXIT
fi

step "ProcessPrng shim (mingw)"
x86_64-w64-mingw32-gcc -O2 -shared -o "$T/bcryptprimitives.dll" \
  "$here/shim/bcryptprimitives.c" "$here/shim/bcryptprimitives.def" -ladvapi32

step "test-only build overlay for SIO_UDP_NETRESET"
src=$(go env GOROOT)/src/net/fd_windows.go
mkdir -p "$T/overlay"
awk '
  /SIO_UDP_NETRESET/ { print; getline
    if (sub(/if err != nil \{/, "if err != nil \\&\\& err != syscall.Errno(10045) { // Wine 8: WSAEOPNOTSUPP (test build only)")) n++ }
  { print }
  END { exit n != 1 }' "$src" >"$T/overlay/fd_windows.go" ||
  fail "$src: the SIO_UDP_NETRESET check is not where this script expects it (Go $(go env GOVERSION)); update the awk above"
printf '{"Replace":{"%s":"%s"}}\n' "$src" "$T/overlay/fd_windows.go" >"$T/overlay.json"

step "windows/amd64 test binaries"
mkdir -p "$T/bin"
cd "$root"
for p in dnspin dnspin-tray packaging/wine/pipecheck packaging/wine/stall; do
  b=$(basename "$p")
  [ -d "cmd/$p" ] && p=cmd/$p
  flags=""
  [ "$b" = dnspin-tray ] && flags="-H windowsgui"
  CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -overlay "$T/overlay.json" -trimpath \
    -ldflags "-X main.version=1.0.0 $flags" -o "$T/bin/$b.exe" "./$p"
done
# The fake ipconfig: activate runs `ipconfig /flushdns` after its registry
# writes; this one stalls there so a test can kill activate mid-way.
mkdir -p "$T/stallpath" && cp "$T/bin/stall.exe" "$T/stallpath/ipconfig.exe"

step "MSIs 1.0.0 and 1.1.0 from the test binaries"
mkdir -p "$T/bin2"
cp "$T/bin/dnspin-tray.exe" "$T/bin2/"
CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -overlay "$T/overlay.json" -trimpath \
  -ldflags "-X main.version=1.1.0" -o "$T/bin2/dnspin.exe" ./cmd/dnspin
msibin="$T/msibin1"
mkdir -p "$msibin" && cp "$T/bin/dnspin.exe" "$T/bin/dnspin-tray.exe" "$msibin/"
"$here/../msi/build.sh" "$msibin" 1.0.0 "$T/dnspin-1.0.0.msi" >/dev/null
"$here/../msi/build.sh" "$T/bin2" 1.1.0 "$T/dnspin-1.1.0.msi" >/dev/null

step "test binary (go test -tags wine)"
go test -c -tags wine -o "$T/winetest.test" ./packaging/wine

step "tests in a network namespace with a fresh prefix"
unshare --net -- "$0" --inner "$T" "${run[@]}"
step "ok"
