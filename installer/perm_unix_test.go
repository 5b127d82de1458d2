//go:build !windows

package installer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Only root may change the config: not other users (world- or
// group-writable file or folder), not another owner.
func TestCheckConfigPermissions(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to other owners and groups")
	}
	t.Parallel()
	for _, tc := range []struct {
		name          string
		mode, dirMode os.FileMode
		uid, gid      int
		want          string // "" means accepted
	}{
		{"root 0644", 0o644, 0o755, 0, 0, ""},
		{"root group-writable by root's group", 0o664, 0o755, 0, 0, ""},
		{"world-writable", 0o646, 0o755, 0, 0, "world-writable"},
		{"other owner", 0o644, 0o755, 1234, 0, "owned by uid 1234"},
		{"group-writable by a user group", 0o664, 0o755, 0, 1234, "writable by group 1234"},
		{"folder group-writable by a user group", 0o644, 0o775, 0, 1234, "config directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "etc")
			if err := os.Mkdir(dir, tc.dirMode); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "dnspin.toml")
			if err := os.WriteFile(p, nil, tc.mode); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{dir, p} {
				if err := os.Chown(f, tc.uid, tc.gid); err != nil {
					t.Fatal(err)
				}
			}
			for f, m := range map[string]os.FileMode{dir: tc.dirMode, p: tc.mode} { // umask-proof
				if err := os.Chmod(f, m); err != nil {
					t.Fatal(err)
				}
			}
			err := CheckConfigPermissions(p)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
