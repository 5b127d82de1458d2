package installer

import (
	"errors"
	"fmt"
	"html"
	"path"
	"strings"

	"github.com/kardianos/service"
)

// The OS service and the tray's autostart. The texts are rendered here,
// without build tags, so every OS's files are golden-tested on Linux; the
// kardianos/service wrapper (service_kardianos.go) installs them.
const (
	ServiceName        = "dnspin"
	ServiceDisplayName = "dnspin – keeps the ticketing platform reachable"
	ServiceDescription = "Local DNS resolver that keeps the ticketing platform reachable when DNS fails, and restores the system DNS settings exactly when removed."

	// LaunchdLabel is the launchd job label of the service on macOS; it
	// equals ServiceName because kardianos/service looks the job up by name.
	LaunchdLabel = ServiceName
	// TrayLaunchAgentLabel is the LaunchAgent label of the tray on macOS.
	TrayLaunchAgentLabel = "com.dnspin.tray"
	// TrayRunValue is the value name of the tray under the Windows Run key.
	TrayRunValue = "dnspin-tray"
	// RunKey is where Windows starts programs for every user at logon.
	RunKey = `SOFTWARE\Microsoft\Windows\CurrentVersion\Run`
)

// ErrServiceNotInstalled is returned by a ServiceManager whose service is
// not (or no longer) registered; uninstall treats it as done.
var ErrServiceNotInstalled = errors.New("the dnspin service is not installed")

// ErrServiceRunning is returned by ServiceManager.Start when the service
// runs already.
var ErrServiceRunning = errors.New("the dnspin service is already running")

// ServiceSpec is what the service runs.
type ServiceSpec struct {
	Executable string // installed dnspin binary
	ConfigPath string // installed config
}

// Arguments are the service's command line after the executable.
func (s ServiceSpec) Arguments() []string {
	return []string{"run", "--service", "--config", s.ConfigPath}
}

// ServiceManager registers, starts and removes the OS service. The real one
// is NewKardianosService; tests record the calls.
type ServiceManager interface {
	Install() error
	Uninstall() error // ErrServiceNotInstalled when there is nothing to remove
	Start() error
	Stop() error
	Platform() string // e.g. "linux-systemd", "unix-systemv", "darwin-launchd", "windows-service"
}

// ServiceFactory makes the ServiceManager for spec.
type ServiceFactory func(spec ServiceSpec) (ServiceManager, error)

// ServiceConfig is the kardianos/service configuration for spec on goos.
// `dnspin run --service` must build its service from the same config so the
// service manager and the running program agree.
func ServiceConfig(spec ServiceSpec, goos string) *service.Config {
	c := &service.Config{
		Name:        ServiceName,
		DisplayName: ServiceDisplayName,
		Description: ServiceDescription,
		Executable:  spec.Executable,
		Arguments:   spec.Arguments(),
		Option: service.KeyValue{
			"Restart":   "always", // systemd, SysV wrappers
			"KeepAlive": true,     // launchd
			"RunAtLoad": true,     // launchd
			"StartType": "automatic",
		},
	}
	switch goos {
	case "linux":
		c.Option["SystemdScript"] = SystemdUnit(spec)
		c.Option["SysvScript"] = SysvScript(spec)
	case "darwin":
		c.Option["LaunchdConfig"] = LaunchdPlist(spec)
	}
	return c
}

// systemdQuote quotes one ExecStart word when it needs it (systemd.service(5)
// "Command lines").
func systemdQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\$%;") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `$$`, `%`, `%%`)
	return `"` + r.Replace(s) + `"`
}

// SystemdUnit is dnspin's unit file. Restart=always with a short delay and
// no start limit: the promise is that the resolver comes back, and while it
// is down the OS falls back to the original servers listed after it.
func SystemdUnit(spec ServiceSpec) string {
	words := []string{systemdQuote(spec.Executable)}
	for _, a := range spec.Arguments() {
		words = append(words, systemdQuote(a))
	}
	return `[Unit]
Description=` + ServiceDisplayName + `
Documentation=https://github.com/dnspin/dnspin
Wants=network-pre.target
Before=network-pre.target nss-lookup.target
After=local-fs.target
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=` + strings.Join(words, " ") + `
Restart=always
RestartSec=1
# Binding port 53 and changing DNS settings need these two, nothing more.
AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_ADMIN
NoNewPrivileges=yes
ProtectHome=yes
PrivateTmp=yes
RuntimeDirectory=dnspin
RuntimeDirectoryMode=0755

[Install]
WantedBy=multi-user.target
`
}

// sysvQuote quotes one word for /bin/sh.
func sysvQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// SysvScript is the init script for machines without systemd (kardianos
// picks SysV there). SysV does not supervise, so the script does: "start"
// runs a small supervisor that restarts dnspin one second after it exits,
// and "stop" ends the supervisor, which ends dnspin. (kardianos's own
// script would also pass the arguments with literal quote characters.)
func SysvScript(spec ServiceSpec) string {
	words := []string{sysvQuote(spec.Executable)}
	for _, a := range spec.Arguments() {
		words = append(words, sysvQuote(a))
	}
	return `#!/bin/sh
### BEGIN INIT INFO
# Provides:          ` + ServiceName + `
# Required-Start:    $local_fs
# Required-Stop:     $local_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: ` + ServiceDisplayName + `
# Description:       ` + ServiceDescription + `
### END INIT INFO

pid_file=/var/run/` + ServiceName + `.pid
log=` + SysvLogPath + `

# A zombie (exited, not yet reaped) does not count as running.
is_running() {
    [ -f "$pid_file" ] || return 1
    state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$(cat "$pid_file")/status" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ]
}

# supervise restarts dnspin whenever it exits, until it gets TERM.
supervise() {
    child=
    trap '[ -n "$child" ] && kill "$child" 2>/dev/null; wait; exit 0' TERM INT
    while :; do
        ` + strings.Join(words, " ") + ` >>"$log" 2>&1 &
        child=$!
        wait "$child"
        sleep 1
    done
}

case "$1" in
    supervise)
        supervise
        ;;
    start)
        if is_running; then
            echo "Already started"
            exit 0
        fi
        echo "Starting ` + ServiceName + `"
        "$0" supervise </dev/null >/dev/null 2>&1 &
        echo $! >"$pid_file"
        ;;
    stop)
        if ! is_running; then
            echo "Not running"
            rm -f "$pid_file"
            exit 0
        fi
        kill "$(cat "$pid_file")"
        i=0
        while is_running && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        if is_running; then
            echo "Not stopped"
            exit 1
        fi
        rm -f "$pid_file"
        echo "Stopped"
        ;;
    restart)
        "$0" stop && "$0" start
        ;;
    status)
        if is_running; then
            echo "Running"
        else
            echo "Stopped"
            exit 1
        fi
        ;;
    *)
        echo "Usage: $0 {start|stop|restart|status}"
        exit 2
        ;;
esac
exit 0
`
}

func plistString(s string) string { return "<string>" + html.EscapeString(s) + "</string>" }

// launchdPlist is a launchd job: label, the program and its arguments, run
// at load, then the job's further keys (tab-indented plist lines).
func launchdPlist(label string, args []string, more string) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteString("\t\t" + plistString(a) + "\n")
	}
	return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	` + plistString(label) + `
	<key>ProgramArguments</key>
	<array>
` + b.String() + `	</array>
	<key>RunAtLoad</key>
	<true/>
` + more + `</dict>
</plist>
`
}

// LaunchdPlist is the LaunchDaemon that runs the service on macOS. KeepAlive
// makes launchd restart it whenever it exits.
func LaunchdPlist(spec ServiceSpec) string {
	return launchdPlist(LaunchdLabel, append([]string{spec.Executable}, spec.Arguments()...), `	<key>KeepAlive</key>
	<true/>
	<key>ThrottleInterval</key>
	<integer>1</integer>
	<key>StandardErrorPath</key>
	`+plistString(LaunchdLogPath)+`
`)
}

// TrayAutostart says how the tray starts for every user who logs in on goos.
type TrayAutostart struct {
	Path    string // file to write (Linux, macOS); "" on Windows
	Content string // its content, or the Run value's command line
	Mode    uint32
	RunKey  string // Windows: value name under HKLM\RunKey
}

// TrayAutostartFor returns the autostart entry for the tray binary on goos.
func TrayAutostartFor(goos, trayExe string) TrayAutostart {
	switch goos {
	case "windows":
		return TrayAutostart{RunKey: TrayRunValue, Content: `"` + trayExe + `"`}
	case "darwin":
		// A LaunchAgent in every user's GUI (Aqua) session.
		return TrayAutostart{Path: "/Library/LaunchAgents/" + TrayLaunchAgentLabel + ".plist", Mode: 0o644, Content: launchdPlist(TrayLaunchAgentLabel, []string{trayExe}, `	<key>LimitLoadToSessionType</key>
	<string>Aqua</string>
	<key>ProcessType</key>
	<string>Interactive</string>
`)}
	default:
		return TrayAutostart{Path: "/etc/xdg/autostart/dnspin-tray.desktop", Mode: 0o644, Content: `[Desktop Entry]
Type=Application
Name=dnspin
Comment=Shows whether the ticketing platform is reachable
Exec=` + desktopExec(trayExe) + `
Icon=network-workgroup
Terminal=false
NoDisplay=true
X-GNOME-Autostart-enabled=true
`}
	}
}

// desktopExec quotes a path for the Exec key of a .desktop file.
func desktopExec(p string) string {
	if !strings.ContainsAny(p, " \t\"'\\$`") {
		return p
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", `$`, `\$`)
	return `"` + r.Replace(p) + `"`
}

// ServiceFilePath is where the service manager keeps the service definition
// on goos/platform, for reports and the uninstall of leftovers.
func ServiceFilePath(goos, platform string) string {
	switch {
	case goos == "darwin":
		return "/Library/LaunchDaemons/" + LaunchdLabel + ".plist"
	case platform == "unix-systemv":
		return "/etc/init.d/" + ServiceName
	case platform == "linux-systemd":
		return "/etc/systemd/system/" + ServiceName + ".service"
	}
	return "" // Windows keeps services in the SCM; other init systems: unknown
}

// The service's own stderr logs, written by the service manager's side
// (the SysV script's supervisor, launchd) from the first start on. systemd
// sends it to the journal; Windows has none.
const (
	SysvLogPath    = "/var/log/" + ServiceName + ".err"
	LaunchdLogPath = "/Library/Logs/" + ServiceName + ".err.log"
)

// ServiceLogPath is the file the service manager writes the service's
// stderr to on goos/platform, "" when there is none, so uninstall can
// remove it.
func ServiceLogPath(goos, platform string) string {
	switch {
	case goos == "darwin":
		return LaunchdLogPath
	case goos == "linux" && platform == "unix-systemv":
		return SysvLogPath
	}
	return ""
}

// sysvLinks are the rc links kardianos creates for a SysV service and does
// not remove again.
func sysvLinks() []string {
	var l []string
	for _, r := range "2345" {
		l = append(l, path.Join("/etc", fmt.Sprintf("rc%c.d", r), "S50"+ServiceName))
	}
	for _, r := range "016" {
		l = append(l, path.Join("/etc", fmt.Sprintf("rc%c.d", r), "K02"+ServiceName))
	}
	return l
}
