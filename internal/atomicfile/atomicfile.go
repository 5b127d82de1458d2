// Package atomicfile replaces files durably: a crash or power loss leaves
// either the old or the new content, never a torn file. The journal, the
// learned answers and the stored bundle all depend on it.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes data to a temporary file beside name, fsyncs it, renames it
// over name and fsyncs the directory (where the OS allows: Windows cannot
// open a directory for fsync, and NTFS journals the rename).
func Write(name string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // harmless after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := setPerm(f, perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	return syncDir(dir)
}
