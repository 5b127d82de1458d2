#!/bin/sh
# Removes dnspin from macOS:
#
#   sudo ./uninstall.sh          service, tray autostart, binaries; DNS restored
#   sudo ./uninstall.sh --purge  also config, learned answers and log
#
# "dnspin uninstall" puts the DNS settings back exactly as they were.
set -eu

purge=no
case "${1:-}" in
"") ;;
--purge) purge=yes ;;
*) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
if [ "$(id -u)" != 0 ]; then
	echo "uninstall.sh: run it as root: sudo $0 $*" >&2
	exit 1
fi

bindir=${DNSPIN_BIN_DIR:-/usr/local/bin}
support=${DNSPIN_SUPPORT_DIR:-"/Library/Application Support/dnspin"}
if [ -x "$bindir/dnspin" ]; then
	# Stop on failure: removing the binary now could leave DNS pointing at
	# a resolver that no longer exists. Without --purge, dnspin keeps the
	# config and learned answers (--keep-state) for a later reinstall.
	keep="--keep-state"
	[ "$purge" = yes ] && keep=""
	if ! "$bindir/dnspin" uninstall $keep; then
		echo "uninstall.sh: dnspin uninstall failed (see above); nothing else was removed." >&2
		exit 1
	fi
fi
rm -f "$bindir/dnspin" "$bindir/dnspin-tray"
if [ "$purge" = yes ] && [ -d "$support" ]; then
	if [ -f "$support/activation-journal.json" ]; then
		echo "uninstall.sh: keeping $support: it holds the journal of DNS settings to restore." >&2
		exit 1
	fi
	rm -rf "$support"
fi
echo "dnspin removed."
