#!/usr/bin/env bash
# Redraws docs/tray.png (English), docs/tray-de.png (German) and docs/tray-fr.png (French): the real
# dnspin-tray on Xvfb with xfce4-panel (which shows StatusNotifierItems),
# against a fake control server that reports an outage, menu opened with a
# click. Needs: apt-get install -y xvfb xfce4-panel imagemagick dbus-x11 xdotool
# (for the picture only; CI does not run this). Run from the repository root.
set -eu
ROOT=$(pwd)
B=$(mktemp -d /tmp/dnspin-shot.XXXX)
go build -o "$B/dnspin-tray" ./cmd/dnspin-tray
mkdir -p "$B/fakectl"
cat > "$B/fakectl/main.go" <<'EOF'
// fakectl serves a fixed dnspin status on a Unix socket.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	sock, status := os.Args[1], os.Args[2]
	ln, err := net.Listen("unix", sock)
	if err != nil {
		panic(err)
	}
	http.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, status) })
	http.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: %s\n\n", status)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	http.HandleFunc("POST /v1/mode", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	http.Serve(ln, nil)
}
EOF
(cd "$B/fakectl" && printf 'module fakectl\n\ngo 1.22\n' > go.mod && GOFLAGS= go build -o "$B/fakectl.bin" .)

STATUS='{"version":"1.4.0","mode":"auto","state":"outage","activated":true,"platform":{"name":"Example Tickets"},"bundle":{"serial":42,"expires":"2026-12-31T00:00:00Z"}}'

shot() { # LOCALE OUT
	local W=$B/$1 D=:$((90 + RANDOM % 9))
	mkdir -p "$W/home/.config/xfce4/xfconf/xfce-perchannel-xml" "$W/run"
	chmod 700 "$W/run"
	cat > "$W/home/.config/xfce4/xfconf/xfce-perchannel-xml/xfce4-panel.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=8;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="30"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/><value type="int" value="2"/><value type="int" value="3"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="separator">
      <property name="expand" type="bool" value="true"/>
      <property name="style" type="uint" value="0"/>
    </property>
    <property name="plugin-2" type="string" value="systray">
      <property name="icon-size" type="uint" value="22"/>
    </property>
    <property name="plugin-3" type="string" value="clock"/>
  </property>
</channel>
XML
	(
		export HOME=$W/home XDG_CONFIG_HOME=$W/home/.config XDG_CACHE_HOME=$W/home/.cache XDG_RUNTIME_DIR=$W/run DISPLAY=$D
		Xvfb "$D" -screen 0 1000x500x24 -nolisten tcp >/dev/null 2>&1 & XPID=$!
		sleep 1
		eval "$(dbus-launch --sh-syntax)"
		"$B/fakectl.bin" "$W/ctl.sock" "$STATUS" & FPID=$!
		LANG=$1 xfce4-panel >"$W/panel.log" 2>&1 & PPID2=$!
		sleep 3
		LANG=$1 "$B/dnspin-tray" --control "$W/ctl.sock" >"$W/tray.log" 2>&1 & TPID=$!
		sleep 4
		for try in 1 2 3 4 5 6 7 8; do # until the menu is open
			xdotool mousemove 920 484 click 1 # the tray icon, left of the clock
			sleep 2
			import -window root "$W/menu.png"
			# Desktop colour instead of Xvfb's black; keep the menu and the panel.
			convert "$W/menu.png" -fill '#3d6d99' -opaque '#000000' "$W/bg.png"
			BOX=$(convert "$W/bg.png" -crop 1000x465+0+0 +repage -format '%@' info: 2>/dev/null)
			# The menu, not the tooltip that hovering shows first (~40 px).
			H=$(echo "$BOX" | sed -nE 's/^[0-9]+x([0-9]+)\+.*/\1/p')
			[ "${H:-0}" -gt 100 ] && break
			xdotool key Escape
		done
		kill $TPID $PPID2 $FPID $DBUS_SESSION_BUS_PID $XPID 2>/dev/null || true
		MX=$(echo "$BOX" | sed -E 's/.*\+([0-9]+)\+([0-9]+)$/\1/')
		MY=$(echo "$BOX" | sed -E 's/.*\+([0-9]+)\+([0-9]+)$/\2/')
		CX=$((MX > 16 ? MX - 16 : 0)); CY=$((MY > 16 ? MY - 16 : 0))
		convert "$W/bg.png" -crop $((1000 - CX))x$((500 - CY))+$CX+$CY +repage -strip "PNG8:$2"
	)
	echo "$2: $(stat -c %s "$2") bytes"
}
shot en_GB.UTF-8 "$ROOT/docs/tray.png"
shot de_DE.UTF-8 "$ROOT/docs/tray-de.png"
shot fr_FR.UTF-8 "$ROOT/docs/tray-fr.png"
rm -rf "$B"
