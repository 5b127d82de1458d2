//go:build !windows

package atomicfile

import (
	"io/fs"
	"os"
)

func setPerm(f *os.File, perm fs.FileMode) error { return f.Chmod(perm) }

// syncDir makes the rename itself durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
