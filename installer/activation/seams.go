package activation

import (
	"context"
	"io/fs"
	"os"
	"os/exec"

	"github.com/dnspin/dnspin/internal/atomicfile"
)

// Plan is what activation should make the OS do.
type Plan struct {
	Mode     string   // "scoped" (only Domains go to dnspin) or "full" (all DNS)
	Domains  []string // protected domains, canonical, no trailing dot
	Resolver []string // dnspin's listen addresses, "127.0.0.1:53" form
}

// Configurator points the OS at dnspin and restores what was there. One
// implementation per OS (see configurator_*.go); callers never switch on GOOS.
type Configurator interface {
	// Apply records the current settings in the journal (fsynced) before
	// changing anything, then applies p. Applying twice is harmless.
	Apply(ctx context.Context, p Plan) error
	// Restore puts back exactly what the journal recorded and removes it.
	// With no journal it does nothing and returns nil.
	Restore(ctx context.Context) error
	// Current describes the OS DNS settings now, for check and reports.
	Current(ctx context.Context) (Snapshot, error)
}

// Snapshot is a human- and JSON-readable view of the OS DNS settings.
type Snapshot struct {
	Backend     string            `json:"backend"`               // e.g. "resolv.conf", "systemd-resolved", "nrpt"
	Nameservers []string          `json:"nameservers,omitempty"` // what the OS uses now
	Activated   bool              `json:"activated"`             // dnspin's settings are in place
	Files       map[string]string `json:"files,omitempty"`       // path -> content, for reports
	Notes       []string          `json:"notes,omitempty"`
}

// FS is the filesystem seam: the real one writes the real files; tests use
// a directory root or an in-memory fake.
type FS interface {
	ReadFile(name string) ([]byte, error)
	WriteFile(name string, data []byte, perm fs.FileMode) error
	Stat(name string) (fs.FileInfo, error)
	Lstat(name string) (fs.FileInfo, error)
	Readlink(name string) (string, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	// RemoveAll removes name and everything below it; a missing name is
	// not an error (os.RemoveAll).
	RemoveAll(name string) error
	MkdirAll(name string, perm fs.FileMode) error
	Chmod(name string, perm fs.FileMode) error
	// WriteFileAtomic replaces name durably: temp file, fsync, rename,
	// fsync of the directory.
	WriteFileAtomic(name string, data []byte, perm fs.FileMode) error
}

// Runner is the command seam: it runs name with args and returns combined
// output. Tests replace it to record golden transcripts.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecRunner runs real commands.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// OSFS is the real filesystem.
type OSFS struct{}

var _ FS = OSFS{}

func (OSFS) ReadFile(n string) ([]byte, error)                 { return os.ReadFile(n) }
func (OSFS) WriteFile(n string, b []byte, p fs.FileMode) error { return os.WriteFile(n, b, p) }
func (OSFS) Stat(n string) (fs.FileInfo, error)                { return os.Stat(n) }
func (OSFS) Lstat(n string) (fs.FileInfo, error)               { return os.Lstat(n) }
func (OSFS) Readlink(n string) (string, error)                 { return os.Readlink(n) }
func (OSFS) Rename(a, b string) error                          { return os.Rename(a, b) }
func (OSFS) Remove(n string) error                             { return os.Remove(n) }
func (OSFS) RemoveAll(n string) error                          { return os.RemoveAll(n) }
func (OSFS) MkdirAll(n string, p fs.FileMode) error            { return os.MkdirAll(n, p) }
func (OSFS) Chmod(n string, p fs.FileMode) error               { return os.Chmod(n, p) }

// Marker starts every file dnspin writes, so a leftover is recognisable.
const Marker = "# Written by dnspin. The original is restored by `dnspin deactivate`; do not edit."

// WriteFileAtomic writes data to a temporary file beside name, fsyncs it,
// renames it over name and fsyncs the directory, so a crash leaves either the
// old or the new content, never a torn file.
func (OSFS) WriteFileAtomic(name string, data []byte, perm fs.FileMode) error {
	return atomicfile.Write(name, data, perm)
}
