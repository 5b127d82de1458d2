//go:build linux || darwin

package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

const childEnv = "DNSPIN_CONTROL_TEST_CHILD"

// childResult is what the child client saw.
type childResult struct {
	UID, GID   int
	StatusErr  string
	Mode       string
	ModeErr    string
	ReloadErr  string
	ReloadCode int
}

func runChild(addr string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := NewClient(addr)
	r := childResult{UID: os.Getuid(), GID: os.Getgid()}
	if _, err := c.Status(ctx); err != nil {
		r.StatusErr = err.Error()
	}
	if err := c.SetMode(ctx, "pinned"); err != nil {
		r.ModeErr = err.Error()
	}
	if st, err := c.Status(ctx); err == nil {
		r.Mode = st.Mode
	}
	if err := c.Reload(ctx); err != nil {
		r.ReloadErr = err.Error()
		var ae *APIError
		if errors.As(err, &ae) {
			r.ReloadCode = ae.StatusCode
		}
	}
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

// asUser runs this test binary as a client with uid/gid against addr. The
// binary is copied where that user may execute it.
func asUser(t *testing.T, dir, addr string, uid, gid uint32) childResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "client.test")
	if _, err := os.Stat(bin); err != nil {
		src, err := os.Open(exe)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		dst.Close()
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = []string{childEnv + "=" + addr}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("child as %d:%d: %v: %s", uid, gid, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var r childResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	return r
}

// A real non-root process connects through the 0666 socket: it may read
// status and switch mode, but reload is refused by its SO_PEERCRED uid —
// unless the service names its group as the admin group.
func TestNonRootPeer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a client as another user")
	}
	t.Parallel()
	// Let the other user reach the binary and the socket: t.TempDir and its
	// parent are 0700.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const uid, gid = 65534, 65533
	for _, tc := range []struct {
		name     string
		opts     ServerOptions
		reloadOK bool
	}{
		{"plain user", ServerOptions{}, false},
		{"member of admin group", ServerOptions{AdminGID: gid}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, l := newLive()
			addr := filepath.Join(dir, fmt.Sprintf("s%d", len(tc.name)), "dnspin.sock")
			ln, err := Listen(addr)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- Serve(ctx, ln, b, tc.opts) }()
			defer func() { cancel(); <-done }()

			r := asUser(t, dir, addr, uid, gid)
			if r.UID != uid || r.GID != gid {
				t.Fatalf("child ran as %d:%d", r.UID, r.GID)
			}
			if r.StatusErr != "" || r.ModeErr != "" || r.Mode != "pinned" || l.get().Mode != "pinned" {
				t.Fatalf("non-root status/mode: %+v", r)
			}
			l.mu.Lock()
			reloads := l.reloads
			l.mu.Unlock()
			if tc.reloadOK {
				if r.ReloadErr != "" || reloads != 1 {
					t.Fatalf("admin-group reload: %+v, backend reloads %d", r, reloads)
				}
				return
			}
			if r.ReloadCode != 403 || reloads != 0 {
				t.Fatalf("non-root reload: %+v, backend reloads %d; want 403 and no reload", r, reloads)
			}
		})
	}
}
