package installer

import (
	"io/fs"
	"os"
	"path/filepath"
)

// RootFS is the real filesystem below Root: every path is taken relative to
// it. Tests install into a temp dir with it; packagers can stage a tree.
type RootFS struct{ Root string }

var _ FS = RootFS{}

func (r RootFS) p(n string) string { return filepath.Join(r.Root, filepath.FromSlash(n)) }

func (r RootFS) ReadFile(n string) ([]byte, error) { return os.ReadFile(r.p(n)) }
func (r RootFS) WriteFile(n string, b []byte, p fs.FileMode) error {
	return os.WriteFile(r.p(n), b, p)
}
func (r RootFS) Stat(n string) (fs.FileInfo, error)     { return os.Stat(r.p(n)) }
func (r RootFS) Lstat(n string) (fs.FileInfo, error)    { return os.Lstat(r.p(n)) }
func (r RootFS) Readlink(n string) (string, error)      { return os.Readlink(r.p(n)) }
func (r RootFS) Rename(a, b string) error               { return os.Rename(r.p(a), r.p(b)) }
func (r RootFS) Remove(n string) error                  { return os.Remove(r.p(n)) }
func (r RootFS) MkdirAll(n string, p fs.FileMode) error { return os.MkdirAll(r.p(n), p) }
func (r RootFS) Chmod(n string, p fs.FileMode) error    { return os.Chmod(r.p(n), p) }
func (r RootFS) WriteFileAtomic(n string, b []byte, p fs.FileMode) error {
	return writeFileAtomic(r.p(n), b, p)
}
