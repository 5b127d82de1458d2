#!/usr/bin/env bash
# Redraws docs/tray-windows-en.png, -de.png and -fr.png: the real
# dnspin-tray.exe in Wine's virtual desktop on Xvfb, connected over the named
# pipe to a real `dnspin.exe run` (not activated, so the grey "switched off"
# sentence, the longest one, and its tooltip), menu opened with a click.
# It is TestTrayUnderWine run through the harness (test.sh, which CI runs
# too) with DNSPIN_TRAY_SHOTS set. Needs root and what test.sh needs, plus
# xvfb xdotool imagemagick. Run from anywhere:
#
#   sudo packaging/wine/tray-screenshot.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DNSPIN_TRAY_SHOTS="$(cd "$here/../../docs" && pwd)" exec "$here/test.sh" -run 'TestTrayUnderWine'
