#!/usr/bin/env bash
# Packaging test (CI: .ci/run). Builds two releases (1.0.0 signed with a
# throwaway certificate, 1.1.0 twice) from this tree for linux/amd64,
# windows/amd64 and darwin/arm64, then proves:
#   - reproducible archives and packages, checksums, Windows version resources + icon, Authenticode signatures
#     (osslsigncode verify against the test CA) on the .exe files and MSI;
#   - the MSI really holds the service, recovery, tray autostart, public
#     properties, custom actions in the right sequence, rollback types and
#     the major-upgrade rows, and the binaries in its cabinet are ours;
#   - the .deb is lintian-clean and its unit passes systemd-analyze verify;
#   - install, upgrade and purge into throwaway roots, never this machine:
#     (a) dpkg --root with DPKG_ROOT scripts (bootstrap case) under an
#         overlay of /etc /var /run that must stay empty;
#     (b) a chroot on an overlay of / in its own mount + network namespace,
#         where the maintainer scripts run for real against a resolv.conf
#         that must come back byte for byte;
#   - the macOS install.sh passes the documented arguments to dnspin.
# Needs root and: wixl msitools osslsigncode openssl lintian icoutils(opt).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
export PATH="$PATH:/usr/local/go/bin"
t0=$(date +%s)
step() { echo "-- [$(($(date +%s) - t0))s] $*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
want() { # want DESC GOT EXPECTED
  [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"
}
[ "$(id -u)" = 0 ] || fail "needs root (dpkg into throwaway roots, namespaces)"
for t in wixl msiinfo msiextract osslsigncode openssl dpkg-deb unshare zip unzip; do
  command -v "$t" >/dev/null || fail "$t missing: apt-get install -y wixl msitools osslsigncode openssl dpkg zip unzip util-linux"
done

T=$(mktemp -d /tmp/dnspin-pkgtest.XXXXXX)
trap 'rm -rf "$T"' EXIT

step "throwaway code-signing certificate"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=dnspin test code signing" \
  -addext "extendedKeyUsage=codeSigning" -addext "keyUsage=digitalSignature" \
  -keyout "$T/sign.key" -out "$T/sign.crt" 2>/dev/null

step "release 1.0.0 (signed) and 1.1.0"
SIGN_CERT="$T/sign.crt" SIGN_KEY="$T/sign.key" \
  "$here/release.sh" --version 1.0.0 --out "$T/v1" --targets "linux/amd64 windows/amd64 darwin/arm64" >"$T/build1.log" 2>&1 ||
  { cat "$T/build1.log"; fail "release 1.0.0"; }
"$here/release.sh" --version 1.1.0 --out "$T/v2" --targets "linux/amd64 windows/amd64" >"$T/build2.log" 2>&1 ||
  { cat "$T/build2.log"; fail "release 1.1.0"; }
"$here/release.sh" --version 1.1.0 --out "$T/v2again" --targets "linux/amd64 windows/amd64" >"$T/build3.log" 2>&1 ||
  { cat "$T/build3.log"; fail "release 1.1.0 again"; }
# Reproducible: the same commit gives the same bytes, except the MSI
# (wixl gives every build a new ProductCode and time stamp).
diff <(grep -v '\.msi$' "$T/v2/SHA256SUMS") <(grep -v '\.msi$' "$T/v2again/SHA256SUMS") ||
  fail "two builds of the same commit differ (above)"
(cd "$T/v1" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS of 1.0.0"
(cd "$T/v2" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS of 1.1.0"
grep -q 'dnspin-1.0.0-windows-x64.msi' "$T/v1/SHA256SUMS" || fail "SHA256SUMS does not list the MSI"
has_tray=no
[ -d cmd/dnspin-tray ] && has_tray=yes
go build -o "$T/mkwinres" ./packaging/cmd/mkwinres

step "windows executables: resources and signatures"
unzip -q "$T/v1/dnspin-1.0.0-windows-amd64.zip" -d "$T/zip1"
w1="$T/zip1/dnspin-1.0.0-windows-amd64"
exes="dnspin.exe"
[ "$has_tray" = yes ] && exes="$exes dnspin-tray.exe"
for e in $exes; do
  "$T/mkwinres" check -version 1.0.0 "$w1/$e"
  osslsigncode verify -CAfile "$T/sign.crt" -in "$w1/$e" >"$T/verify.log" 2>&1 ||
    { cat "$T/verify.log"; fail "$e: signature does not verify"; }
  grep -q 'Signature verification: ok' "$T/verify.log" || fail "$e: no 'Signature verification: ok'"
  if command -v wrestool >/dev/null; then # an independent reader
    wrestool -l "$w1/$e" | grep -q 'type=version' || fail "$e: wrestool finds no version resource"
    wrestool -l "$w1/$e" | grep -q 'type=group_icon' || fail "$e: wrestool finds no icon"
  fi
done
# PE subsystem (optional header offset 68): 2 = GUI, 3 = console. The tray
# must not open a console window; the command line must have one.
subsystem() {
  local pe
  pe=$(od -An -tu4 -j60 -N4 "$1" | tr -d ' ')
  od -An -tu2 -j$((pe + 4 + 20 + 68)) -N2 "$1" | tr -d ' '
}
want "dnspin.exe subsystem" "$(subsystem "$w1/dnspin.exe")" 3
[ "$has_tray" = no ] || want "dnspin-tray.exe subsystem" "$(subsystem "$w1/dnspin-tray.exe")" 2
unzip -q "$T/v2/dnspin-1.1.0-windows-amd64.zip" -d "$T/zip2"
if osslsigncode verify -in "$T/zip2/dnspin-1.1.0-windows-amd64/dnspin.exe" >/dev/null 2>&1; then
  fail "unsigned build carries a signature"
fi

step "msi: signature, tables, sequence, upgrade"
m1="$T/v1/dnspin-1.0.0-windows-x64.msi"
m2="$T/v2/dnspin-1.1.0-windows-x64.msi"
osslsigncode verify -CAfile "$T/sign.crt" -in "$m1" >"$T/verify.log" 2>&1 ||
  { cat "$T/verify.log"; fail "MSI signature does not verify"; }
# export M TABLE: rows only (msiinfo prints 3 header lines).
export_rows() { msiinfo export "$1" "$2" | tr -d '\r' | tail -n +4; }
# field M TABLE KEY COL: column COL (1-based) of the row whose first column is KEY.
field() { export_rows "$1" "$2" | awk -F'\t' -v k="$3" -v c="$4" '$1 == k { print $c; n++ } END { exit n != 1 }'; }
tables=$(msiinfo tables "$m1" | tr '\n' ' ')
for t in ServiceInstall ServiceControl CustomAction InstallExecuteSequence Upgrade Registry LaunchCondition Property File Icon; do
  case " $tables " in *" $t "*) ;; *) fail "MSI has no $t table" ;; esac
done
want "service name" "$(field "$m1" ServiceInstall dnspinService 2)" "dnspin"
want "service start type (2 = automatic)" "$(field "$m1" ServiceInstall dnspinService 5)" "2"
want "service account" "$(field "$m1" ServiceInstall dnspinService 9)" "LocalSystem"
want "service arguments" "$(field "$m1" ServiceInstall dnspinService 11)" 'run --service --config "[CommonAppDataFolder]dnspin\dnspin.toml"'
want "service component" "$(field "$m1" ServiceInstall dnspinService 12)" "Service"
# 163 = start on install (1) + stop on install (2) + stop (32) and delete (128) on uninstall.
want "service control events" "$(field "$m1" ServiceControl dnspinControl 3)" "163"
want "service control wait" "$(field "$m1" ServiceControl dnspinControl 5)" "1"
want "service exe in the service component" "$(field "$m1" Component Service 6)" "dnspin.exe"
want "64-bit component" "$(field "$m1" Component Service 4)" "256"
want "program folder" "$(field "$m1" Component Service 3)" "DnspinDir"
field "$m1" Directory DnspinDir 2 | grep -q '^ProgramFiles64Folder$' || fail "programs are not under ProgramFiles64Folder"
secure=$(field "$m1" Property SecureCustomProperties 2)
for p in CONFIG BUNDLE_URL BUNDLE_KEY PLATFORM_DOMAINS WIX_UPGRADE_DETECTED; do
  case ";$secure;" in *";$p;"*) ;; *) fail "SecureCustomProperties [$secure] lacks $p" ;; esac
done
# Custom actions: 3090 = installed file, deferred, LocalSystem, checked;
# 3410 = the same, rollback only, exit code ignored; 3122/3186 = from a
# property path (sc.exe, taskkill.exe), deferred, LocalSystem.
ca() { want "custom action $1 $2" "$(field "$m1" CustomAction "$1" "$2")" "$3"; }
ca DnspinInstall 2 3090
ca DnspinInstall 3 dnspin.exe
ca DnspinInstall 4 "[DNSPIN_INSTALL_ARGS]"
ca DnspinInstallRollback 2 3410
ca DnspinInstallRollback 4 "uninstall --silent --keep-state"
ca DnspinUninstall 2 3090
ca DnspinUninstall 4 "uninstall --silent"
ca DnspinUninstallRollback 2 3410
ca DnspinUninstallRollback 4 "install --silent --packaged-service"
ca DnspinDeactivate 2 3090
ca DnspinDeactivate 4 "deactivate"
ca DnspinDeactivateRollback 2 3410
ca DnspinDeactivateRollback 4 "activate"
ca ServiceRecovery 2 3122
ca ServiceRecovery 3 SCEXE
ca ServiceRecovery 4 "failure dnspin reset= 86400 actions= restart/1000/restart/5000/restart/30000"
for a in SetScExe SetTaskkillExe SetInstallArgs SetInstallArgsConfig SetInstallArgsBundle SetInstallArgsDomains; do
  ca "$a" 2 51 # set a property, immediate (no stray flags: ICE68)
done
ca SetScExe 4 "[System64Folder]sc.exe"
ca SetInstallArgs 4 "install --silent --packaged-service"
ca SetInstallArgsConfig 4 '[DNSPIN_INSTALL_ARGS] --config "[CONFIG]"'
ca SetInstallArgsBundle 4 '[DNSPIN_INSTALL_ARGS] --bundle-url "[BUNDLE_URL]" --bundle-key "[BUNDLE_KEY]"'
ca SetInstallArgsDomains 4 '[DNSPIN_INSTALL_ARGS] --platform-domains "[PLATFORM_DOMAINS]"'
seq() { field "$m1" InstallExecuteSequence "$1" 3; }
cond() { field "$m1" InstallExecuteSequence "$1" 2; }
before() { # before A B: A is sequenced before B
  [ "$(seq "$1")" -lt "$(seq "$2")" ] || fail "sequence: $1 ($(seq "$1")) must come before $2 ($(seq "$2"))"
}
for a in DnspinInstall DnspinInstallRollback DnspinUninstall DnspinUninstallRollback DnspinDeactivate DnspinDeactivateRollback ServiceRecovery KillTray; do
  before InstallInitialize "$a" # deferred actions only run inside the script
  before "$a" InstallFinalize
done
for a in SetScExe SetTaskkillExe SetInstallArgs SetInstallArgsConfig SetInstallArgsBundle SetInstallArgsDomains; do
  before "$a" InstallInitialize # the properties are set before the script is written
done
before SetInstallArgs SetInstallArgsConfig
before SetInstallArgsConfig SetInstallArgsBundle
before SetInstallArgsBundle SetInstallArgsDomains
before InstallValidate RemoveExistingProducts
before RemoveExistingProducts InstallInitialize
before DnspinInstallRollback DnspinInstall
# The MSI registers the service; dnspin install puts the config in place and
# starts it, so it comes after InstallServices and before StartServices
# (which, with Wait, fails the install if the service exits for lack of a
# config).
before InstallServices DnspinInstallRollback
before ServiceRecovery DnspinInstall
before DnspinInstall StartServices
before InstallServices ServiceRecovery
before ServiceRecovery StartServices
ca ServiceFailureFlag 4 "failureflag dnspin 1"
want "failureflag is not fatal (Wine's sc.exe lacks it)" "$(( $(field "$m1" CustomAction ServiceFailureFlag 2) & 64 ))" 64
before DnspinUninstallRollback DnspinUninstall
before DnspinUninstall StopServices
before DnspinDeactivateRollback DnspinDeactivate
before DnspinDeactivate StopServices
before StopServices KillTray
before KillTray RemoveFiles
want "install condition" "$(cond DnspinInstall)" 'NOT REMOVE~="ALL"'
want "uninstall condition" "$(cond DnspinUninstall)" 'REMOVE~="ALL" AND NOT UPGRADINGPRODUCTCODE'
want "upgrade-removal condition" "$(cond DnspinDeactivate)" 'REMOVE~="ALL" AND UPGRADINGPRODUCTCODE'
want "config condition" "$(cond SetInstallArgsConfig)" "CONFIG"
if [ "$has_tray" = yes ]; then
  export_rows "$m1" Registry | awk -F'\t' '$2 == 2 && $3 == "Software\\Microsoft\\Windows\\CurrentVersion\\Run" && $4 == "dnspin-tray" && $5 == "\"[#dnspin_tray.exe]\"" { n++ } END { exit n != 1 }' ||
    fail "no HKLM Run value for the tray"
fi
# Upgrade: same UpgradeCode, new ProductCode, each version finds older ones.
uc1=$(field "$m1" Property UpgradeCode 2)
uc2=$(field "$m2" Property UpgradeCode 2)
want "UpgradeCode stays" "$uc2" "$uc1"
[ "$(field "$m1" Property ProductCode 2)" != "$(field "$m2" Property ProductCode 2)" ] || fail "ProductCode must change between versions"
want "ProductVersion 1.1.0" "$(field "$m2" Property ProductVersion 2)" "1.1.0"
export_rows "$m2" Upgrade | awk -F'\t' -v u="${uc1^^}" 'toupper($1) == u && $2 == "" && $3 == "1.1.0" && $5 == 513 && $7 == "WIX_UPGRADE_DETECTED" { n++ } END { exit n != 1 }' ||
  fail "1.1.0 has no Upgrade row that removes older versions"
export_rows "$m2" LaunchCondition | grep -q '^NOT WIX_DOWNGRADE_DETECTED' || fail "no downgrade guard"
# The cabinet holds exactly the executables of the zip (signed ones in 1.0.0).
mkdir -p "$T/msix"
(cd "$T/msix" && msiextract "$m1" >/dev/null)
for e in $exes; do
  f=$(find "$T/msix" -name "$e" | head -1)
  [ -n "$f" ] || fail "MSI cabinet lacks $e"
  cmp -s "$f" "$w1/$e" || fail "$e in the MSI differs from the release build"
done

step "deb: contents, lintian, unit"
d1="$T/v1/dnspin_1.0.0_amd64.deb"
d2="$T/v2/dnspin_1.1.0_amd64.deb"
dpkg-deb -c "$d1" >"$T/deb.list"
for p in ./usr/bin/dnspin ./lib/systemd/system/dnspin.service ./etc/dnspin/dnspin.toml ./usr/share/man/man8/dnspin.8.gz; do
  grep -q " $p\$" "$T/deb.list" || fail "deb lacks $p"
done
[ "$has_tray" = no ] || grep -q ' ./usr/bin/dnspin-tray$' "$T/deb.list" || fail "deb lacks dnspin-tray"
conffiles=$(dpkg-deb --ctrl-tarfile "$d1" | tar -xOf - ./conffiles | tr '\n' ' ')
if [ "$has_tray" = yes ]; then
  want "conffiles" "$conffiles" "/etc/dnspin/dnspin.toml /etc/xdg/autostart/dnspin-tray.desktop "
  grep -q ' ./etc/xdg/autostart/dnspin-tray.desktop$' "$T/deb.list" || fail "deb lacks the tray autostart"
else
  want "conffiles" "$conffiles" "/etc/dnspin/dnspin.toml "
fi
if command -v lintian >/dev/null; then
  lintian --no-tag-display-limit "$d1" >"$T/lintian.log" 2>&1 || true
  if grep -E '^[EW]:' "$T/lintian.log"; then fail "lintian errors or warnings (above)"; fi
else
  echo "   lintian not installed: skipped"
fi
dpkg-deb -x "$d1" "$T/debx"
if command -v systemd-analyze >/dev/null; then
  sed "s#/usr/bin/dnspin#$T/debx/usr/bin/dnspin#" "$T/debx/lib/systemd/system/dnspin.service" >"$T/dnspin.service"
  systemd-analyze verify "$T/dnspin.service" || fail "systemd-analyze verify dnspin.service"
fi
grep -qx 'Restart=always' "$T/debx/lib/systemd/system/dnspin.service" || fail "unit lacks Restart=always"
grep -qx 'ExecStart=/usr/bin/dnspin run --service --config /etc/dnspin/dnspin.toml' "$T/debx/lib/systemd/system/dnspin.service" ||
  fail "unit ExecStart is not the service command line"
"$T/debx/usr/bin/dnspin" version | grep -q '^dnspin 1.0.0 ' || fail "deb's dnspin does not report version 1.0.0"

# The root tests run in their own mount + network namespace: whatever the
# scripts do cannot reach this machine's files, services or network.
step "deb: DPKG_ROOT install, upgrade, purge (chrootless scripts)"
unshare --mount --net --propagation private -- "$here/testdata/dpkg-root.sh" "$T/dr" "$d1" "$d2"

step "deb: install, upgrade, purge in a chroot on an overlay of /"
unshare --mount --net --pid --propagation private --fork -- "$here/testdata/overlay-chroot.sh" "$T/oc" "$d1" "$d2"

step "macos: archive and install.sh"
tar -C "$T" -xzf "$T/v1/dnspin-1.0.0-darwin-arm64.tar.gz"
mdir="$T/dnspin-1.0.0-darwin-arm64"
for f in dnspin install.sh uninstall.sh README.txt; do [ -f "$mdir/$f" ] || fail "macOS archive lacks $f"; done
[ -x "$mdir/install.sh" ] && [ -x "$mdir/dnspin" ] || fail "macOS scripts or binary not executable"
file_type=$(od -An -tx1 -N4 "$mdir/dnspin" | tr -d ' ')
want "macOS binary is Mach-O 64-bit" "$file_type" "cffaedfe"
# The real binary is for macOS; a recorder stands in for it to check what
# install.sh and uninstall.sh pass on.
printf '#!/bin/sh\necho "$*" >>"%s"\n' "$T/mac-calls" >"$mdir/dnspin"
echo 'domains = ["x.example"]' >"$T/site.toml"
DNSPIN_BIN_DIR="$T/macbin" "$mdir/install.sh" --config "$T/site.toml" --bundle-url https://pins.example/p.json --bundle-key ed25519:AAAA
want "install.sh runs" "$(cat "$T/mac-calls")" "install --silent --config $T/site.toml --bundle-url https://pins.example/p.json --bundle-key ed25519:AAAA"
[ -x "$T/macbin/dnspin" ] || fail "install.sh did not copy dnspin to the bin dir"
if DNSPIN_BIN_DIR="$T/macbin" "$mdir/install.sh" --bundle-url https://x >/dev/null 2>&1; then fail "install.sh accepted --bundle-url without --bundle-key"; fi
mkdir -p "$T/macsupport"
DNSPIN_BIN_DIR="$T/macbin" DNSPIN_SUPPORT_DIR="$T/macsupport" "$mdir/uninstall.sh" >/dev/null
want "uninstall.sh keeps state" "$(tail -1 "$T/mac-calls")" "uninstall --keep-state"
[ -e "$T/macsupport" ] || fail "uninstall.sh without --purge removed the support dir"
cp "$mdir/dnspin" "$T/macbin/dnspin"
DNSPIN_BIN_DIR="$T/macbin" DNSPIN_SUPPORT_DIR="$T/macsupport" "$mdir/uninstall.sh" --purge >/dev/null
want "uninstall.sh --purge runs" "$(tail -1 "$T/mac-calls")" "uninstall"
[ ! -e "$T/macbin/dnspin" ] && [ ! -e "$T/macsupport" ] || fail "uninstall.sh --purge left files"

step "ok"
