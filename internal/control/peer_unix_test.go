//go:build linux || darwin

package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	childEnv        = "DNSPIN_CONTROL_TEST_CHILD"
	childStreamsEnv = "DNSPIN_CONTROL_TEST_STREAMS"
)

// childResult is what the child client saw.
type childResult struct {
	UID, GID   int
	StatusErr  string
	StatusLeak bool // the status carried a secret of leakedURL
	ModeErrs   map[string]string
	ModeCodes  map[string]int
	ReloadErr  string
	ReloadCode int
	ReportErr  string
	Reduced    bool // the service said the report is reduced
	ReportLog  bool // the report carries the log line
	Streams    int  // event streams opened (hold mode)
	StreamErr  string
}

func apiCode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

// runChild is the test binary acting as a client as another user. With
// childStreamsEnv=N it opens up to N event streams, reports, and holds them
// until stdin closes; otherwise it tries every endpoint once.
func runChild(addr string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := NewClient(addr)
	r := childResult{UID: os.Getuid(), GID: os.Getgid(), ModeErrs: map[string]string{}, ModeCodes: map[string]int{}}
	if n, _ := strconv.Atoi(os.Getenv(childStreamsEnv)); n > 0 {
		for i := 0; i < n; i++ {
			ev, err := NewClient(addr).Events(ctx)
			if err != nil {
				r.StreamErr = err.Error()
				break
			}
			<-ev
			r.Streams++
		}
		json.NewEncoder(os.Stdout).Encode(r)
		io.Copy(io.Discard, os.Stdin) // hold the streams
		return 0
	}
	if st, err := c.Status(ctx); err != nil {
		r.StatusErr = err.Error()
	} else {
		b, _ := json.Marshal(st)
		r.StatusLeak = strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "SECRET123")
	}
	for _, m := range []string{"pinned", "auto", "passthrough", "auto"} {
		if err := c.SetMode(ctx, m); err != nil {
			r.ModeErrs[m], r.ModeCodes[m] = err.Error(), apiCode(err)
		}
	}
	if err := c.Reload(ctx); err != nil {
		r.ReloadErr, r.ReloadCode = err.Error(), apiCode(err)
	}
	rep, reduced, err := c.ReportScope(ctx)
	if err != nil {
		r.ReportErr = err.Error()
	}
	r.Reduced = reduced
	r.ReportLog = strings.Contains(string(rep), "msg=started")
	if strings.Contains(string(rep), "hunter2") {
		r.ReportErr = "report leaks hunter2"
	}
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

// childBinary copies this test binary where other users may execute it.
func childBinary(t *testing.T, dir string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "client.test")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
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
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// childCmd is this test binary as a client with uid, gid and supplementary
// groups against addr.
func childCmd(t *testing.T, dir, addr string, uid, gid uint32, groups []uint32, env ...string) *exec.Cmd {
	cmd := exec.Command(childBinary(t, dir), "-test.run=^$")
	cmd.Env = append([]string{childEnv + "=" + addr}, env...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}}
	return cmd
}

// asUser runs the child once and returns what it saw.
func asUser(t *testing.T, dir, addr string, uid, gid uint32, groups []uint32) childResult {
	t.Helper()
	out, err := childCmd(t, dir, addr, uid, gid, groups).Output()
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

// holdStreams starts a child as uid that opens up to n event streams and
// holds them until the test ends; it returns what the child saw.
func holdStreams(t *testing.T, dir, addr string, uid uint32, n int) childResult {
	t.Helper()
	cmd := childCmd(t, dir, addr, uid, uid, []uint32{}, fmt.Sprintf("%s=%d", childStreamsEnv, n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		t.Fatalf("child %d: %v", uid, err)
	}
	var r childResult
	if err := json.Unmarshal(line, &r); err != nil {
		t.Fatalf("child output %q: %v", line, err)
	}
	return r
}

// realUsersDir is a temp dir other users may enter (t.TempDir and its
// parent are 0700).
func realUsersDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to start clients as other users")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Real processes of other users connect through the 0666 socket. A plain
// user reads the status (redacted), switches between auto and pinned, and
// gets a reduced report; passthrough and reload are refused by its
// SO_PEERCRED uid. A member of the admin group, by a supplementary group
// read from /proc, may do everything.
func TestNonRootPeer(t *testing.T) {
	dir := realUsersDir(t)
	t.Parallel()
	const uid, gid, adminGID = 65534, 65533, 4242
	// The service names its admin group (AdminGroup); any group with a
	// name does here.
	named, err := user.LookupGroupId("65534")
	if err != nil {
		t.Fatalf("group 65534 (nogroup) has no name here: %v", err)
	}
	for _, tc := range []struct {
		name   string
		opts   ServerOptions
		groups []uint32
		admin  bool
	}{
		{"plain user", ServerOptions{AdminGID: adminGID}, []uint32{}, false},
		{"primary group is another", ServerOptions{AdminGID: gid + 1}, []uint32{4243}, false},
		{"supplementary admin group", ServerOptions{AdminGID: adminGID}, []uint32{4243, adminGID}, true},
		{"primary admin group", ServerOptions{AdminGID: gid}, []uint32{}, true},
		{"admin group by name", ServerOptions{AdminGroup: named.Name}, []uint32{65534}, true},
		{"admin group by name, not a member", ServerOptions{AdminGroup: named.Name}, []uint32{4243}, false},
		{"admin group missing", ServerOptions{AdminGroup: "dnspin-no-such-group"}, []uint32{65534}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, l := newLive()
			l.set(func(s *Status) { s.Bundle = &Bundle{Serial: 3, LastError: leakedURL + ": HTTP 503", Source: leakedURL} })
			addr := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"), "dnspin.sock")
			serveAt(t, addr, b, tc.opts)

			r := asUser(t, dir, addr, uid, gid, tc.groups)
			if r.UID != uid || r.GID != gid {
				t.Fatalf("child ran as %d:%d", r.UID, r.GID)
			}
			if r.StatusErr != "" || r.StatusLeak {
				t.Errorf("status: err %q, leaks the mirror's secrets: %v", r.StatusErr, r.StatusLeak)
			}
			if r.ModeErrs["pinned"] != "" || r.ModeErrs["auto"] != "" {
				t.Errorf("auto/pinned must be open to every user: %v", r.ModeErrs)
			}
			l.mu.Lock()
			reloads := l.reloads
			l.mu.Unlock()
			if r.ReportErr != "" {
				t.Errorf("report: %s", r.ReportErr)
			}
			if tc.admin {
				if r.ModeErrs["passthrough"] != "" || r.ReloadErr != "" || reloads != 1 || r.Reduced || !r.ReportLog {
					t.Errorf("administrator: %+v, backend reloads %d", r, reloads)
				}
				return
			}
			if r.ModeCodes["passthrough"] != 403 || !strings.Contains(r.ModeErrs["passthrough"], "needs an administrator: run dnspin mode passthrough as root (sudo) or as a member of the dnspin group") {
				t.Errorf("passthrough by a plain user: %q (%d), want 403 naming the right", r.ModeErrs["passthrough"], r.ModeCodes["passthrough"])
			}
			if l.get().Mode != "auto" {
				t.Errorf("mode is %s after the refused passthrough, want auto", l.get().Mode)
			}
			if r.ReloadCode != 403 || reloads != 0 {
				t.Errorf("reload by a plain user: %q (%d), backend reloads %d; want 403 and no reload", r.ReloadErr, r.ReloadCode, reloads)
			}
			if !r.Reduced || r.ReportLog {
				t.Errorf("report for a plain user: reduced %v, has the log %v; want reduced without the log", r.Reduced, r.ReportLog)
			}
		})
	}
}

// Event streams of real users: one user cannot hold more than its share,
// users together cannot take the last streams from root.
func TestEventStreamsPerRealUser(t *testing.T) {
	dir := realUsersDir(t)
	t.Parallel()
	b, _ := newLive()
	addr := filepath.Join(dir, "events", "dnspin.sock")
	serveAt(t, addr, b, ServerOptions{MaxEventStreams: 6, MaxEventStreamsPerUser: 4})

	a := holdStreams(t, dir, addr, 65534, 5)
	if a.Streams != 4 || !strings.Contains(a.StreamErr, "too many event streams open (4 of one user)") {
		t.Fatalf("user A: %d streams, %q; want 4 and a 503 for the fifth", a.Streams, a.StreamErr)
	}
	bb := holdStreams(t, dir, addr, 65532, 5)
	if bb.Streams != 2 || !strings.Contains(bb.StreamErr, "too many event streams open (6 of all users)") {
		t.Fatalf("user B: %d streams, %q; want 2 and a 503 for the third", bb.Streams, bb.StreamErr)
	}
	// Root, with every user's share taken, still gets its streams.
	for i := 0; i < 4; i++ {
		ev, err := NewClient(addr).Events(testCtx(t))
		if err != nil {
			t.Fatalf("root stream %d with the users' streams held: %v", i+1, err)
		}
		<-ev
	}
}
