package atomicfile

import (
	"io/fs"
	"os"
)

// setPerm: Windows keeps only the read-only bit of a mode, and access is
// the directory's ACL's business (installer sets it), so a failure here
// changes nothing that matters.
func setPerm(f *os.File, perm fs.FileMode) error {
	_ = f.Chmod(perm)
	return nil
}

// syncDir: Windows cannot open a directory for fsync, and NTFS journals
// the rename.
func syncDir(string) error { return nil }
