// Package paths says where dnspin keeps its files on this OS: the config,
// the state directory, the control socket or pipe and the binaries. It is a
// leaf (standard library only) so the tray can find the control API without
// linking the installer.
package paths

// Paths are where dnspin keeps its files on this OS.
type Paths struct {
	Config   string // installed, admin-owned config file
	StateDir string // learned answers, journal, bundle, log
	Control  string // control socket (Unix) or named pipe (Windows)
	BinDir   string // where install copies the binaries
}

// Default returns this OS's locations (see the per-OS files).
func Default() Paths { return defaultPaths() }
