// Package installer registers dnspin with the operating system: the service,
// tray autostart, and the system DNS settings (activation), with an exact,
// crash-safe restore. It knows nothing about DNS packets; every OS difference
// lives in this package's per-OS files, behind small interfaces, so callers
// never switch on GOOS.
package installer

// Paths are where dnspin keeps its files on this OS.
type Paths struct {
	Config   string // installed, admin-owned config file
	StateDir string // learned answers, journal, bundle, log
	Control  string // control socket (Unix) or named pipe (Windows)
	BinDir   string // where install copies the binaries
}

// DefaultPaths returns this OS's locations (see the per-OS files).
func DefaultPaths() Paths { return defaultPaths() }
