#!/usr/bin/env bash
# Release build of dnspin: cross-builds, Windows resources and signing,
# MSI, Debian packages, macOS and Linux archives, SHA256SUMS.
#
#   packaging/release.sh [--version V] [--out DIR] [--targets "linux/amd64 windows/amd64 ..."]
#
# Defaults: version from `git describe --tags` (v1.2.3 -> 1.2.3, else
# 0.0.0-dev), out = dist/, all targets: linux, windows, darwin x amd64, arm64.
#
# Signing (Authenticode, Windows executables and the MSI), optional:
#   SIGN_PKCS12=cert.p12 [SIGN_PASSWORD=...]       or
#   SIGN_CERT=chain.pem SIGN_KEY=key.pem [SIGN_PASSWORD=...]
#   SIGN_TIMESTAMP_URL=http://timestamp.example     (RFC 3161; needs network)
#
# What it makes (VER = version):
#   dnspin-VER-windows-x64.msi                 Windows installer (amd64)
#   dnspin-VER-windows-{amd64,arm64}.zip       Windows executables
#   dnspin_DEBVER_{amd64,arm64}.deb            Debian/Ubuntu packages
#   dnspin-VER-linux-{amd64,arm64}.tar.gz      other Linux
#   dnspin-VER-darwin-{amd64,arm64}.tar.gz     macOS: dnspin + install.sh
#   SHA256SUMS
# The macOS tray (dnspin-tray) needs cgo and Apple's SDK: build it on a Mac
# (CGO_ENABLED=1 go build ./cmd/dnspin-tray); this script skips it.
# Needs: go, git, zip, dpkg-deb, wixl + msitools (MSI), osslsigncode (signing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
export PATH="$PATH:/usr/local/go/bin"

version=""
out="$root/dist"
targets="linux/amd64 linux/arm64 windows/amd64 windows/arm64 darwin/amd64 darwin/arm64"
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --targets) targets=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "$0: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$version" ]; then
  version=$(git describe --tags --match 'v[0-9]*' 2>/dev/null || true)
  version=${version#v}
  [ -n "$version" ] || version="0.0.0-dev"
fi
case "$version" in
  *[!A-Za-z0-9.+~-]*) echo "$0: version '$version' may only contain letters, digits and . + ~ -" >&2; exit 2 ;;
esac
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# Build date = commit date, so the same commit builds the same bytes.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH=$epoch
date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w -X main.version=$version -X main.commit=$commit -X main.date=$date"

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { echo "== $*"; }

# Build from a copy of the tree (tracked and untracked-but-not-ignored
# files), so the generated .syso files never land in the work tree.
step "source copy ($version, commit $commit, $date)"
src="$work/src"
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | tar -C "$root" --null -T - -cf - | tar -C "$src" -xf -
bins="dnspin"
[ -d "$src/cmd/dnspin-tray" ] && bins="$bins dnspin-tray"

go build -o "$work/mkwinres" ./packaging/cmd/mkwinres
export MKWINRES="$work/mkwinres"
go build -o "$work/mkservice" ./packaging/cmd/mkservice
export MKSERVICE="$work/mkservice"
# The product icon is the tray's green shield when the tray is in the tree.
icon_args=()
if [ -f "$src/tray/icons/green.ico" ]; then
  icon_args=(-icon "$src/tray/icons/green.ico")
fi
export DNSPIN_ICON="${icon_args[1]:-}"

signing=no
if [ -n "${SIGN_PKCS12:-}" ] || { [ -n "${SIGN_CERT:-}" ] && [ -n "${SIGN_KEY:-}" ]; }; then
  command -v osslsigncode >/dev/null || { echo "$0: signing asked for but osslsigncode is missing: apt-get install -y osslsigncode" >&2; exit 1; }
  signing=yes
fi
# sign FILE: Authenticode signature (SHA-256) in place.
sign() {
  [ "$signing" = yes ] || return 0
  local f=$1 args=(sign -h sha256 -n dnspin -i https://github.com/dnspin/dnspin)
  if [ -n "${SIGN_PKCS12:-}" ]; then args+=(-pkcs12 "$SIGN_PKCS12"); else args+=(-certs "$SIGN_CERT" -key "$SIGN_KEY"); fi
  [ -n "${SIGN_PASSWORD:-}" ] && args+=(-pass "$SIGN_PASSWORD")
  [ -n "${SIGN_TIMESTAMP_URL:-}" ] && args+=(-ts "$SIGN_TIMESTAMP_URL")
  osslsigncode "${args[@]}" -in "$f" -out "$f.signed" >/dev/null
  mv "$f.signed" "$f"
  echo "   signed $(basename "$f")"
}

tarball() { # tarball DIR NAME.tar.gz: reproducible (sorted, fixed owner and time)
  tar -C "$(dirname "$1")" --sort=name --owner=0 --group=0 --numeric-owner \
    --mtime="@$epoch" -cf - "$(basename "$1")" | gzip -9n >"$2"
}

stage="$work/stage"
for t in $targets; do
  os=${t%/*} arch=${t#*/}
  d="$stage/dnspin-$version-$os-$arch"
  mkdir -p "$d"
  for b in $bins; do
    if [ "$b" = dnspin-tray ] && [ "$os" = darwin ]; then
      continue # cgo + Apple SDK: build on a Mac
    fi
    exe=$b flags=$ldflags
    if [ "$os" = windows ]; then
      exe=$b.exe
      desc="dnspin DNS resolver service and command line"
      if [ "$b" = dnspin-tray ]; then
        desc="dnspin tray"
        flags="$flags -H windowsgui" # no console window behind the tray
      fi
      "$MKWINRES" syso -arch "$arch" -version "$version" -file "$exe" -desc "$desc" "${icon_args[@]}" \
        -o "$src/cmd/$b/zz_rsrc_windows_$arch.syso"
    fi
    step "build $b $os/$arch"
    (cd "$src" && CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false \
      -ldflags "$flags" -o "$d/$exe" "./cmd/$b")
    if [ "$os" = windows ]; then
      "$MKWINRES" check -version "$version" "$d/$exe" >/dev/null
      sign "$d/$exe"
    fi
  done
  cp README.md "$d/README.md"
  # The README links into docs/: ship them, so the links work in the archive.
  mkdir -p "$d/docs" && cp docs/*.md docs/*.png "$d/docs/"
  cp "$here/deb/dnspin.toml" "$d/dnspin.toml.example"
  case $os in
    windows)
      (cd "$stage" && rm -f "$out/dnspin-$version-$os-$arch.zip" &&
        find "$(basename "$d")" -exec touch -d "@$epoch" {} + &&
        zip -qrX "$out/dnspin-$version-$os-$arch.zip" "$(basename "$d")")
      if [ "$arch" = amd64 ]; then
        step "msi"
        "$here/msi/build.sh" "$d" "$version" "$out/dnspin-$version-windows-x64.msi"
        sign "$out/dnspin-$version-windows-x64.msi"
      fi
      ;;
    linux)
      tarball "$d" "$out/dnspin-$version-$os-$arch.tar.gz"
      step "deb $arch"
      "$here/deb/build.sh" "$d" "$version" "$arch" "$out"
      ;;
    darwin)
      cp "$here/macos/install.sh" "$here/macos/uninstall.sh" "$d/"
      cp "$here/macos/README.txt" "$d/README.txt"
      chmod 0755 "$d/install.sh" "$d/uninstall.sh" "$d/dnspin"
      tarball "$d" "$out/dnspin-$version-$os-$arch.tar.gz"
      ;;
  esac
done

step "SHA256SUMS"
debver=$("$here/deb/build.sh" --debian-version "$version")
(cd "$out" && find . -maxdepth 1 -type f \( -name "dnspin-$version-*" -o -name "dnspin_${debver}_*.deb" \) \
  -printf '%f\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS && cat SHA256SUMS)
