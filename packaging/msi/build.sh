#!/usr/bin/env bash
# Builds the dnspin MSI (x64) with wixl, then fixes what wixl 0.101 cannot
# express with msibuild: rollback custom actions and SecureCustomProperties.
#
#   packaging/msi/build.sh BIN_DIR VERSION OUT.msi
#
# BIN_DIR holds dnspin.exe and, if built, dnspin-tray.exe (amd64). The icon
# is $DNSPIN_ICON (an .ico) if set, else mkwinres's ($MKWINRES, else
# `go run`). Needs: wixl msitools.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -ne 3 ]; then
  echo "usage: $0 BIN_DIR VERSION OUT.msi" >&2
  exit 2
fi
bin=$(cd "$1" && pwd)
version=$2
out=$3
for t in wixl msibuild msiinfo; do
  command -v "$t" >/dev/null || { echo "$0: $t not found: apt-get install -y wixl msitools" >&2; exit 1; }
done
[ -f "$bin/dnspin.exe" ] || { echo "$0: $bin/dnspin.exe missing: build windows/amd64 first (packaging/release.sh)" >&2; exit 1; }

# MSI ProductVersion is numeric major.minor.build; "1.2.3-rc1" -> 1.2.3,
# a development build ("0.0.0-dev", "dev") -> 0.0.0.
numeric=$(printf '%s' "${version#v}" | sed -E 's/^([0-9]+(\.[0-9]+){0,2}).*/\1/;t;s/.*/0.0.0/')
has_tray=no
[ -f "$bin/dnspin-tray.exe" ] && has_tray=yes

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "${DNSPIN_ICON:-}" ]; then
  cp "$DNSPIN_ICON" "$tmp/dnspin.ico"
elif [ -n "${MKWINRES:-}" ]; then
  "$MKWINRES" ico -o "$tmp/dnspin.ico"
else
  (cd "$root" && go run ./packaging/cmd/mkwinres ico -o "$tmp/dnspin.ico")
fi

# wixl resolves Source paths relative to the working directory only.
ln -s "$bin" "$tmp/bin"
cp "$here/dnspin.wxs" "$tmp/"
(cd "$tmp" && wixl -a x64 -o dnspin.msi \
  -D Version="$numeric" -D VersionText="$version" -D BinDir=bin \
  -D IconFile=dnspin.ico -D HasTray="$has_tray" dnspin.wxs)

# Custom action types: 18 = run an installed file, +64 ignore its exit
# code, +1024 deferred, +2048 as LocalSystem, +256 rollback only.
rollback=$((18 + 64 + 256 + 1024 + 2048))
secure="WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;CONFIG;BUNDLE_URL;BUNDLE_KEY;PLATFORM_DOMAINS"
for a in DnspinInstallRollback DnspinUninstallRollback DnspinDeactivateRollback; do
  msibuild "$tmp/dnspin.msi" -q "UPDATE \`CustomAction\` SET \`Type\` = $rollback WHERE \`Action\` = '$a'"
done
# wixl schedules RemoveExistingProducts after InstallFinalize; we want the
# old version gone (and its DNS settings restored) before the new installs.
msibuild "$tmp/dnspin.msi" -q "UPDATE \`InstallExecuteSequence\` SET \`Sequence\` = 1410 WHERE \`Action\` = 'RemoveExistingProducts'"
# Same-version upgrades too (WiX's AllowSameVersionUpgrades, which wixl
# ignores): 1 = migrate feature states, +512 = VersionMax inclusive, so
# 1.2.3 replaces 1.2.3-rc1 (both MSI version 1.2.3) instead of installing
# beside it.
# Attributes is part of the table's key, so the row is replaced.
upgrade_code="{C236E4B5-F115-4DF8-9379-179D90A0C082}" # = UpgradeCode in dnspin.wxs
grep -qi "UpgradeCode=\"${upgrade_code:1:36}\"" "$here/dnspin.wxs" || { echo "$0: upgrade_code differs from dnspin.wxs" >&2; exit 1; }
msibuild "$tmp/dnspin.msi" -q "DELETE FROM \`Upgrade\` WHERE \`ActionProperty\` = 'WIX_UPGRADE_DETECTED'"
msibuild "$tmp/dnspin.msi" -q "INSERT INTO \`Upgrade\` (\`UpgradeCode\`, \`VersionMax\`, \`Attributes\`, \`ActionProperty\`) VALUES ('$upgrade_code', '$numeric', 513, 'WIX_UPGRADE_DETECTED')"
msibuild "$tmp/dnspin.msi" -q "UPDATE \`Property\` SET \`Value\` = '$secure' WHERE \`Property\` = 'SecureCustomProperties'"

mkdir -p "$(dirname "$out")"
mv "$tmp/dnspin.msi" "$out"
echo "built $out (ProductVersion $numeric, tray: $has_tray)"
