#!/usr/bin/env bash
# Run by packaging/test.sh inside `unshare --mount --net --pid --fork`: a chroot
# on an overlay of / (writes land in a tmpfs), where dpkg and apt install,
# upgrade, remove and purge the .deb and its maintainer scripts run for
# real — including "dnspin activate/deactivate" against the chroot's own
# /etc/resolv.conf, which must come back byte for byte.
#   overlay-chroot.sh WORKDIR OLD.deb NEW.deb
set -euo pipefail
T=$1 d1=$2 d2=$3
fail() { echo "FAIL (overlay chroot): $*" >&2; exit 1; }
mkdir -p "$T"
mount -t tmpfs -o size=512m tmpfs "$T"
mkdir -p "$T/u" "$T/w" "$T/root"
R="$T/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/u,workdir=$T/w" "$R"
mount -t proc proc "$R/proc"
mount --bind /dev "$R/dev"
mount -t tmpfs tmpfs "$R/run"
mount -t tmpfs tmpfs "$R/tmp"
ip link set lo up 2>/dev/null || true
cp "$d1" "$R/tmp/old.deb"
cp "$d2" "$R/tmp/new.deb"

# The chroot's own resolver settings, distinct from anything dnspin writes.
rm -f "$R/etc/resolv.conf"
printf '# site resolvers\nnameserver 198.51.100.7\nnameserver 198.51.100.8\nsearch corp.example\noptions edns0\n' >"$R/etc/resolv.conf"
cp -p "$R/etc/resolv.conf" "$T/resolv.before"
in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive "$@"; }
run_root() { in_root "$@" >"$T/cmd.log" 2>&1 || { cat "$T/cmd.log"; fail "$*"; }; }
status() { in_root dpkg-query -W -f='${Status} ${Version}' dnspin 2>/dev/null || true; }
same_resolv() { cmp -s "$R/etc/resolv.conf" "$T/resolv.before"; }
apt_opts=(-y -q -o Dpkg::Options::=--force-confold -o APT::Get::List-Cleanup=false)
cat >"$T/site.toml" <<'TOML'
listen = ["127.0.0.1:53"]
upstreams = ["198.51.100.7"]

[platform]
name = "Test Tickets"
domains = ["tickets.example"]

[[pin]]
name = "shop.tickets.example"
a = ["192.0.2.10"]
TOML

# Which of the product's commands this tree has (others build them in
# parallel); what is missing is reported, not faked.
has_activate=no
dpkg-deb -x "$d1" "$T/x"
"$T/x/usr/bin/dnspin" activate --help >/dev/null 2>&1 && has_activate=yes
has_run=no
"$T/x/usr/bin/dnspin" run --help >/dev/null 2>&1 && has_run=yes
run_args=(run --config /etc/dnspin/dnspin.toml)
"$T/x/usr/bin/dnspin" run --service --help >/dev/null 2>&1 && run_args=(run --service --config /etc/dnspin/dnspin.toml)

# 1. apt install, no site config: enabled, nothing activated.
run_root apt-get install "${apt_opts[@]}" /tmp/old.deb
[ "$(status)" = "install ok installed 1.0.0" ] || fail "after apt install: status [$(status)]"
[ -L "$R/etc/systemd/system/multi-user.target.wants/dnspin.service" ] || fail "unit not enabled"
same_resolv || fail "install without platform domains changed resolv.conf"
grep -Eq '^[[:space:]]*domains' "$R/etc/dnspin/dnspin.toml" && fail "shipped config names domains"

# 2. Site config, resolver running (what systemd would do), upgrade:
#    config kept, DNS activated.
cp "$T/site.toml" "$R/etc/dnspin/dnspin.toml"
pid=""
# start_resolver BINARY: what systemd would run, in the background; $! is
# the resolver itself (chroot and env exec it).
start_resolver() {
  if [ "$has_run" = yes ]; then
    chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$1" "${run_args[@]}" >>"$T/run.log" 2>&1 &
    pid=$!
  fi
}
stop_resolver() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi; }
trap stop_resolver EXIT
start_resolver /usr/bin/dnspin
run_root env DNSPIN_ACTIVATE=1 dpkg -i --force-confold /tmp/new.deb
[ "$(status)" = "install ok installed 1.1.0" ] || fail "after upgrade: status [$(status)]"
cmp -s "$R/etc/dnspin/dnspin.toml" "$T/site.toml" || fail "upgrade replaced the site config"
if [ "$has_activate" = yes ]; then
  ! same_resolv || { cat "$T/cmd.log"; fail "postinst did not activate (resolv.conf unchanged)"; }
  [ -f "$R/var/lib/dnspin/activation-journal.json" ] || fail "no activation journal after activation"
else
  grep -q 'activation failed' "$T/cmd.log" || fail "postinst neither activated nor said so"
  same_resolv || fail "failed activation changed resolv.conf"
  echo "   NOTE: this tree has no 'dnspin activate' yet: activation and exact restore not exercised"
fi

# 3. remove (prerm deactivates while the resolver runs), then purge.
if [ "$has_activate" = no ]; then
  # A dnspin that cannot deactivate must not be removed: prerm refuses.
  if in_root dpkg -r dnspin >"$T/cmd.log" 2>&1; then fail "remove went ahead although deactivate failed"; fi
  grep -q 'package NOT removed' "$T/cmd.log" || { cat "$T/cmd.log"; fail "prerm did not explain the refusal"; }
  case "$(status)" in *" ok installed 1.1.0") ;; *) fail "after refused remove: status [$(status)]" ;; esac
  echo "   NOTE: no 'dnspin deactivate' in this tree: remove refused as designed; remove/purge in the chroot not exercised"
  exit 0
fi
run_root dpkg -r dnspin
same_resolv || { diff "$T/resolv.before" "$R/etc/resolv.conf" || true; fail "remove did not restore resolv.conf byte for byte"; }
[ -f "$R/etc/dnspin/dnspin.toml" ] || fail "remove (not purge) deleted the config"
stop_resolver
run_root dpkg --purge dnspin
same_resolv || fail "purge changed resolv.conf"
for p in /usr/bin/dnspin /etc/dnspin /var/lib/dnspin /lib/systemd/system/dnspin.service /etc/systemd/system/multi-user.target.wants/dnspin.service; do
  [ ! -e "$R$p" ] && [ ! -L "$R$p" ] || fail "purge left $p"
done

# 4. Config placed first (how support pushes it), then apt install: the
#    site config wins over the shipped one, activation on install, purge.
mkdir -p "$R/etc/dnspin"
cp "$T/site.toml" "$R/etc/dnspin/dnspin.toml"
cp "$T/x/usr/bin/dnspin" "$R/tmp/dnspin-resolver"
start_resolver /tmp/dnspin-resolver
run_root env DNSPIN_ACTIVATE=1 apt-get install "${apt_opts[@]}" /tmp/new.deb
cmp -s "$R/etc/dnspin/dnspin.toml" "$T/site.toml" || fail "fresh install replaced the pre-placed site config"
if [ "$has_activate" = yes ]; then ! same_resolv || fail "fresh install with site config did not activate"; fi
run_root apt-get purge "${apt_opts[@]}" dnspin
same_resolv || fail "apt purge did not restore resolv.conf byte for byte"
stop_resolver
[ ! -e "$R/etc/dnspin" ] && [ ! -e "$R/var/lib/dnspin" ] || fail "apt purge left config or state"
echo "   chroot: apt install, upgrade (site config kept), remove, purge ok; resolv.conf restored"
