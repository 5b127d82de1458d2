#!/usr/bin/env bash
# Builds the dnspin Debian package with dpkg-deb (no debhelper needed).
#
#   packaging/deb/build.sh BIN_DIR VERSION ARCH OUT_DIR   -> OUT_DIR/dnspin_DEBVER_ARCH.deb
#   packaging/deb/build.sh --debian-version VERSION       -> prints DEBVER
#
# BIN_DIR holds dnspin and, if built, dnspin-tray for ARCH (amd64, arm64).
# The systemd unit and the tray's autostart file come from the installer
# package (the same text `dnspin install` writes), through mkservice
# ($MKSERVICE, else `go run`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mkservice() {
  if [ -n "${MKSERVICE:-}" ]; then "$MKSERVICE" "$@"; else (cd "$root" && go run ./packaging/cmd/mkservice "$@"); fi
}

# Debian version: "1.2.3-rc1" -> "1.2.3~rc1" (sorts before 1.2.3),
# anything not starting with a digit -> "0.0.0~...".
debian_version() {
  local v=${1#v}
  case "$v" in [0-9]*) ;; *) v="0.0.0~$v" ;; esac
  printf '%s\n' "$v" | tr '-' '~'
}
if [ "${1:-}" = --debian-version ]; then
  debian_version "$2"
  exit 0
fi
if [ $# -ne 4 ]; then
  echo "usage: $0 BIN_DIR VERSION ARCH OUT_DIR" >&2
  exit 2
fi
bin=$1 version=$2 arch=$3 outdir=$4
debver=$(debian_version "$version")
[ -x "$bin/dnspin" ] || { echo "$0: $bin/dnspin missing: build linux/$arch first (packaging/release.sh)" >&2; exit 1; }
epoch=${SOURCE_DATE_EPOCH:-$(date +%s)}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
r="$tmp/root"
install -d -m 0755 "$r/DEBIAN" "$r/usr/bin" "$r/lib/systemd/system" "$r/etc/dnspin" \
  "$r/usr/share/doc/dnspin" "$r/usr/share/lintian/overrides"
install -m 0755 "$bin/dnspin" "$r/usr/bin/dnspin"
has_tray=no
if [ -x "$bin/dnspin-tray" ]; then
  install -m 0755 "$bin/dnspin-tray" "$r/usr/bin/dnspin-tray"
  # Every user's tray starts at desktop logon (same file as `dnspin install`).
  install -d -m 0755 "$r/etc/xdg/autostart"
  mkservice tray-desktop -exe /usr/bin/dnspin-tray >"$r/etc/xdg/autostart/dnspin-tray.desktop"
  has_tray=yes
fi
mkservice systemd -exe /usr/bin/dnspin -config /etc/dnspin/dnspin.toml >"$r/lib/systemd/system/dnspin.service"
install -m 0644 "$here/dnspin.toml" "$r/etc/dnspin/dnspin.toml"
install -d -m 0755 "$r/usr/share/man/man1" "$r/usr/share/man/man8"
gzip -9n <"$here/dnspin.8" >"$r/usr/share/man/man8/dnspin.8.gz"
[ "$has_tray" = yes ] && gzip -9n <"$here/dnspin-tray.1" >"$r/usr/share/man/man1/dnspin-tray.1.gz"
rmdir "$r/usr/share/man/man1" 2>/dev/null || true
install -m 0644 "$here/copyright" "$r/usr/share/doc/dnspin/copyright"
install -m 0644 "$here/lintian-overrides" "$r/usr/share/lintian/overrides/dnspin"
date_rfc=$(LC_ALL=C date -u -R -d "@$epoch")
cat >"$tmp/changelog" <<CHANGELOG
dnspin ($debver) stable; urgency=medium

  * Release $version.

 -- dnspin maintainers <maintainers@dnspin.example>  $date_rfc
CHANGELOG
gzip -9n <"$tmp/changelog" >"$r/usr/share/doc/dnspin/changelog.gz"
for s in postinst prerm postrm; do
  install -m 0755 "$here/$s" "$r/DEBIAN/$s"
done
(cd "$r" && find etc -type f | LC_ALL=C sort | sed 's#^#/#') >"$r/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$r" | cut -f1)
tray_desc=""
[ "$has_tray" = yes ] && tray_desc=$'\n .\n dnspin-tray shows the state in the notification area of the desktop.'
cat >"$r/DEBIAN/control" <<CONTROL
Package: dnspin
Version: $debver
Architecture: $arch
Maintainer: dnspin maintainers <maintainers@dnspin.example>
Installed-Size: $size
Depends: init-system-helpers (>= 1.54~)
Section: net
Priority: optional
Homepage: https://github.com/dnspin/dnspin
Description: keeps an online platform reachable when DNS fails
 dnspin runs a local forwarding resolver that pins the platform's
 host names to known-good addresses while upstream DNS is failing, and
 puts the system's DNS settings back exactly as they were afterwards.
 The service starts by itself; it changes DNS settings only once
 /etc/dnspin/dnspin.toml names the platform's domains.$tray_desc
CONTROL
# Modes do not depend on the builder's umask.
find "$r" -type f ! -path "$r/usr/bin/*" ! -name postinst ! -name prerm ! -name postrm -exec chmod 0644 {} +
find "$r" -type d -exec chmod 0755 {} +
(cd "$r" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$r/DEBIAN/md5sums"
chmod 0644 "$r/DEBIAN/md5sums"
find "$r" -exec touch -h -d "@$epoch" {} +
mkdir -p "$outdir"
out="$outdir/dnspin_${debver}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$r" "$out" >/dev/null
echo "built $out"
