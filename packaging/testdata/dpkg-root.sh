#!/usr/bin/env bash
# Run by packaging/test.sh inside `unshare --mount --net`: install, upgrade
# and purge the .deb into an empty directory with dpkg --root and
# chrootless maintainer scripts (DPKG_ROOT set, as in a bootstrap). /etc,
# /var and /run of this namespace are overlays: anything the scripts write
# outside DPKG_ROOT lands in their upper dirs, which must stay empty.
#   dpkg-root.sh WORKDIR OLD.deb NEW.deb
set -euo pipefail
T=$1 d1=$2 d2=$3
fail() { echo "FAIL (dpkg --root): $*" >&2; exit 1; }
mkdir -p "$T"
for d in etc var run; do
  mkdir -p "$T/guard/$d/u" "$T/guard/$d/w"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$T/guard/$d/u,workdir=$T/guard/$d/w" "/$d"
done
R="$T/root"
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/log"
: >"$R/var/lib/dpkg/status"
: >"$R/var/lib/dpkg/available"
# The empty root has no init-system-helpers: its scripts come from the host
# (chrootless), so the dependency is forced.
dpkgr() { dpkg --root="$R" --log="$R/var/log/dpkg.log" --force-script-chrootless --force-depends "$@" >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "dpkg $*"; }; }
status() { dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Status} ${Version}' dnspin 2>/dev/null || true; }
wants="$R/etc/systemd/system/multi-user.target.wants/dnspin.service"

dpkgr -i "$d1"
[ "$(status)" = "install ok installed 1.0.0" ] || fail "after install: status [$(status)]"
[ -x "$R/usr/bin/dnspin" ] && [ -f "$R/etc/dnspin/dnspin.toml" ] && [ -f "$R/lib/systemd/system/dnspin.service" ] || fail "files missing after install"
[ -L "$wants" ] || fail "deb-systemd-helper did not enable the unit inside DPKG_ROOT"
echo "# edited by the admin" >>"$R/etc/dnspin/dnspin.toml"
cp "$R/etc/dnspin/dnspin.toml" "$T/conf.edited"

dpkgr -i "$d2"
[ "$(status)" = "install ok installed 1.1.0" ] || fail "after upgrade: status [$(status)]"
cmp -s "$R/etc/dnspin/dnspin.toml" "$T/conf.edited" || fail "upgrade replaced the admin's config"
"$R/usr/bin/dnspin" version | grep -q '^dnspin 1.1.0 ' || fail "upgrade did not replace the binary"

mkdir -p "$R/var/lib/dnspin" && echo learned >"$R/var/lib/dnspin/learned.json"
dpkgr --purge dnspin
[ -z "$(status | grep installed || true)" ] || fail "after purge: status [$(status)]"
for p in /usr/bin/dnspin /etc/dnspin /var/lib/dnspin /lib/systemd/system/dnspin.service; do
  [ ! -e "$R$p" ] || fail "purge left $p"
done
[ ! -L "$wants" ] || fail "purge left the enable symlink"

for d in etc var run; do
  left=$(cd "$T/guard/$d/u" && find . -mindepth 1 | head -5)
  [ -z "$left" ] || fail "maintainer scripts wrote outside DPKG_ROOT, in /$d: $left"
done
echo "   dpkg --root: install, upgrade (config kept), purge ok; nothing written outside the root"
