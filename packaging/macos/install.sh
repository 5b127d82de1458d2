#!/bin/sh
# Installs dnspin on macOS from this folder, silently:
#
#   sudo ./install.sh --config /path/to/dnspin.toml
#   sudo ./install.sh --bundle-url URL --bundle-key KEY [--config F]
#
# Copies dnspin (and dnspin-tray, if present) to /usr/local/bin, then runs
# "dnspin install --silent ...", which installs the config into
# /Library/Application Support/dnspin, registers the launchd service and
# points macOS DNS at dnspin. Undo everything with: sudo ./uninstall.sh
set -eu

usage() {
	sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

config="" bundle_url="" bundle_key=""
while [ $# -gt 0 ]; do
	case "$1" in
	--config) [ $# -ge 2 ] || usage; config=$2; shift 2 ;;
	--bundle-url) [ $# -ge 2 ] || usage; bundle_url=$2; shift 2 ;;
	--bundle-key) [ $# -ge 2 ] || usage; bundle_key=$2; shift 2 ;;
	-h|--help) usage ;;
	*) echo "install.sh: unknown argument $1" >&2; usage ;;
	esac
done
if { [ -n "$bundle_url" ] && [ -z "$bundle_key" ]; } || { [ -z "$bundle_url" ] && [ -n "$bundle_key" ]; }; then
	echo "install.sh: --bundle-url and --bundle-key go together" >&2
	exit 2
fi
if [ -n "$config" ] && [ ! -r "$config" ]; then
	echo "install.sh: cannot read config $config" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "install.sh: run it as root: sudo $0 $*" >&2
	exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
bindir=${DNSPIN_BIN_DIR:-/usr/local/bin}
mkdir -p "$bindir"
for b in dnspin dnspin-tray; do
	[ -f "$here/$b" ] || continue
	cp "$here/$b" "$bindir/$b.new"
	chmod 0755 "$bindir/$b.new"
	mv -f "$bindir/$b.new" "$bindir/$b"
	# Downloaded archives carry the quarantine flag; a launchd service
	# with it would be blocked by Gatekeeper.
	if command -v xattr >/dev/null 2>&1; then
		xattr -d com.apple.quarantine "$bindir/$b" 2>/dev/null || true
	fi
done

set -- install --silent
[ -n "$config" ] && set -- "$@" --config "$config"
[ -n "$bundle_url" ] && set -- "$@" --bundle-url "$bundle_url" --bundle-key "$bundle_key"
exec "$bindir/dnspin" "$@"
