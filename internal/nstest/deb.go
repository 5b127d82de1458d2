package nstest

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// DebsEnv names the directory where tests find Debian packages to unpack
// into a namespace (CI downloads them there with `apt-get download`).
const DebsEnv = "DNSPIN_TEST_DEBS"

// FindDeb returns the .deb of package pkg in $DNSPIN_TEST_DEBS. Without it
// the test is skipped (a failure with DNSPIN_NSTEST_REQUIRE=1, as in CI).
func FindDeb(t testing.TB, pkg string) string {
	t.Helper()
	dir := os.Getenv(DebsEnv)
	if dir == "" {
		skipOrFail(t, "%s is not set; `apt-get download %s` into a directory and set it", DebsEnv, pkg)
	}
	m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(m) == 0 {
		skipOrFail(t, "no %s_*.deb in %s=%s; run `apt-get download %s` there", pkg, DebsEnv, dir, pkg)
	}
	return m[len(m)-1]
}

// InstallDeb unpacks the files of a Debian package into this namespace, as
// dpkg would but without its maintainer scripts: /usr gets an overlay like
// /etc, and the package's files are copied below /etc, /usr and the merged
// /lib and /sbin (symlinks into /usr). Only new files and directories are
// created; nothing of the host changes. Call it inside Run's body.
func (e *Env) InstallDeb(t testing.TB, deb string) {
	t.Helper()
	// Writing below / is only safe where /etc and /usr are overlays of
	// this namespace and /lib, /sbin, /bin lead into /usr (merged /usr).
	if !InNamespace() {
		panic(fmt.Sprintf("nstest: InstallDeb(%s) outside a namespace", deb))
	}
	for _, d := range []string{"/lib", "/sbin", "/bin"} {
		if l, err := os.Readlink(d); err != nil || !strings.HasPrefix(filepath.Clean(l), "usr/") && !strings.HasPrefix(filepath.Clean(l), "/usr/") {
			t.Fatalf("nstest: InstallDeb needs a merged /usr (%s a symlink into /usr): %q %v", d, l, err)
		}
	}
	if !e.usrOverlay {
		if err := overlay(e.Dir, "/usr"); err != nil {
			t.Fatalf("nstest: %v", err)
		}
		e.usrOverlay = true
	}
	x := filepath.Join(e.Dir, "deb-"+strings.TrimSuffix(filepath.Base(deb), ".deb"))
	if out, err := exec.Command("dpkg-deb", "-x", deb, x).CombinedOutput(); err != nil {
		t.Fatalf("nstest: dpkg-deb -x %s: %v: %s", deb, err, out)
	}
	err := filepath.WalkDir(x, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == x {
			return err
		}
		rel, _ := filepath.Rel(x, p)
		top := strings.SplitN(rel, string(filepath.Separator), 2)[0]
		switch top {
		case "etc", "usr", "lib", "sbin", "bin":
		default:
			if d.IsDir() {
				return fs.SkipDir // /var, /run: made by the test as needed
			}
			return nil
		}
		dst := "/" + rel
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			if _, err := os.Stat(dst); err == nil {
				return nil
			}
			return os.Mkdir(dst, fi.Mode().Perm())
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			_ = os.Remove(dst)
			return os.Symlink(target, dst)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
				return err
			}
			return os.Chmod(dst, fi.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatalf("nstest: installing %s: %v", deb, err)
	}
}
