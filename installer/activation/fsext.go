package activation

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dnspin/dnspin/internal/atomicfile"
)

// ExtFS is an FS that can also keep symlinks and owners exact and write
// over a bind-mounted file. Activation on Linux needs it; OSFS and RootFS
// implement it.
type ExtFS interface {
	FS
	Symlink(oldname, newname string) error
	// Lchown sets the owner of name itself (not a symlink's target).
	Lchown(name string, uid, gid int) error
	// Owner returns the owner of name itself (like Lstat).
	Owner(name string) (uid, gid int, err error)
	// WriteFileInPlace truncates and rewrites name keeping its inode, for
	// files that cannot be replaced by rename (a bind-mounted resolv.conf
	// gives EBUSY), then fsyncs it.
	WriteFileInPlace(name string, data []byte, perm fs.FileMode) error
	// Lock takes an exclusive advisory lock on the file name (created if
	// need be), waiting for other processes up to lockWait; unlock
	// releases it.
	Lock(name string) (unlock func(), err error)
}

// LockFile, in the state directory, serialises activation changes between
// the service and the command line.
const LockFile = "activation.lock"

// A holder keeps the activation lock for milliseconds (one change or
// restore), so waiting lockWait for it means something is stuck: better a
// message that says so than a command that never returns.
const (
	lockWait = 30 * time.Second
	lockPoll = 100 * time.Millisecond
)

// errLockBusy says who holds the lock and what to do.
func errLockBusy(name string, wait time.Duration) error {
	return fmt.Errorf("%s is still held by another dnspin process after %v (the service's watcher, or another activate, deactivate or uninstall): wait for it to finish and try again; if no other dnspin command runs, restart the dnspin service", name, wait)
}

var (
	_ ExtFS = OSFS{}
	_ ExtFS = RootFS("")
)

// Symlink creates newname pointing at oldname.
func (OSFS) Symlink(oldname, newname string) error { return os.Symlink(oldname, newname) }

// Lchown changes the owner of name itself.
func (OSFS) Lchown(name string, uid, gid int) error { return os.Lchown(name, uid, gid) }

// Owner returns the owner of name itself.
func (OSFS) Owner(name string) (int, int, error) { return fileOwner(name) }

// WriteFileInPlace rewrites name keeping its inode, then fsyncs it.
func (OSFS) WriteFileInPlace(name string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_TRUNC|os.O_CREATE, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Lock takes an exclusive lock on name (flock on Unix).
func (OSFS) Lock(name string) (func(), error) { return lockFile(name, lockWait) }

// RootFS is the real file system below a directory: "/etc/resolv.conf"
// means Root+"/etc/resolv.conf". Absolute symlink targets are followed
// inside the root too. Tests use it with t.TempDir() as the root.
type RootFS string

func (r RootFS) p(name string) string { return filepath.Join(string(r), filepath.Clean("/"+name)) }

// resolve follows symlinks of name inside the root (at most 16 hops).
func (r RootFS) resolve(name string) (string, error) {
	name = filepath.Clean("/" + name)
	for range 16 {
		fi, err := os.Lstat(r.p(name))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return r.p(name), nil
		}
		t, err := os.Readlink(r.p(name))
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(name), t)
		}
		name = filepath.Clean(t)
	}
	return "", fmt.Errorf("%s: too many symlinks", name)
}

func (r RootFS) ReadFile(n string) ([]byte, error) {
	p, err := r.resolve(n)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}
func (r RootFS) WriteFile(n string, b []byte, perm fs.FileMode) error {
	return os.WriteFile(r.p(n), b, perm)
}
func (r RootFS) Stat(n string) (fs.FileInfo, error) {
	p, err := r.resolve(n)
	if err != nil {
		return nil, err
	}
	return os.Stat(p)
}
func (r RootFS) Lstat(n string) (fs.FileInfo, error)    { return os.Lstat(r.p(n)) }
func (r RootFS) Readlink(n string) (string, error)      { return os.Readlink(r.p(n)) }
func (r RootFS) Rename(a, b string) error               { return os.Rename(r.p(a), r.p(b)) }
func (r RootFS) RemoveAll(n string) error               { return os.RemoveAll(r.p(n)) }
func (r RootFS) Remove(n string) error                  { return os.Remove(r.p(n)) }
func (r RootFS) MkdirAll(n string, p fs.FileMode) error { return os.MkdirAll(r.p(n), p) }
func (r RootFS) Chmod(n string, p fs.FileMode) error    { return os.Chmod(r.p(n), p) }
func (r RootFS) WriteFileAtomic(n string, b []byte, p fs.FileMode) error {
	return atomicfile.Write(r.p(n), b, p)
}
func (r RootFS) Symlink(oldname, newname string) error { return os.Symlink(oldname, r.p(newname)) }
func (r RootFS) Lchown(n string, uid, gid int) error   { return os.Lchown(r.p(n), uid, gid) }
func (r RootFS) Owner(n string) (int, int, error)      { return fileOwner(r.p(n)) }
func (r RootFS) Lock(n string) (func(), error)         { return lockFile(r.p(n), lockWait) }
func (r RootFS) WriteFileInPlace(n string, b []byte, p fs.FileMode) error {
	return OSFS{}.WriteFileInPlace(r.p(n), b, p)
}

// isBusy reports whether err means "cannot replace this file by rename"
// (a bind mount: EBUSY; some container runtimes: EXDEV or EPERM on rename).
func isBusy(err error) bool {
	s := err.Error()
	return errors.Is(err, errBusy) || strings.Contains(s, "device or resource busy") || strings.Contains(s, "invalid cross-device link")
}
