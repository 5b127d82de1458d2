package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestNotAdminMessages runs the commands that change the system as a real
// unprivileged user (nobody, uid 65534): each stops before doing anything,
// in one line that says what right is missing and how to run it.
func TestNotAdminMessages(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("DNSPIN_NSTEST_REQUIRE") != "" {
			t.Fatal("needs root to run a command as another user (and DNSPIN_NSTEST_REQUIRE is set)")
		}
		t.Skip("needs root to run a command as another user")
	}
	// The test binary's own folder is private to root: copy it where
	// nobody can run it.
	dir, err := os.MkdirTemp("", "dnspin-messages-") // t.TempDir's parent is 0700
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "dnspin.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args         []string
		stdout, want string
	}{
		{args: []string{"activate"}, want: "dnspin activate: needs root to change the system: run it as root, e.g. sudo dnspin activate; nothing was changed\n"},
		{args: []string{"deactivate"}, want: "dnspin deactivate: needs root to change the system: run it as root, e.g. sudo dnspin deactivate; nothing was changed\n"},
		{args: []string{"install", "--config", "/nonexistent/dnspin.toml"}, want: "dnspin install: needs root to change the system: run it as root, e.g. sudo dnspin install; nothing was changed\n"},
		{args: []string{"install", "--silent"},
			stdout: `{"command":"install","ok":false,"steps":[],"error":"needs root to change the system: run it as root, e.g. sudo dnspin install; nothing was changed"}` + "\n",
			want:   "dnspin install: needs root to change the system: run it as root, e.g. sudo dnspin install; nothing was changed\n"},
		{args: []string{"uninstall", "--silent"},
			stdout: `{"command":"uninstall","ok":false,"steps":[],"error":"needs root to change the system: run it as root, e.g. sudo dnspin uninstall; nothing was changed"}` + "\n",
			want:   "dnspin uninstall: needs root to change the system: run it as root, e.g. sudo dnspin uninstall; nothing was changed\n"},
	} {
		cmd := exec.Command(bin, "-test.run", "^TestMessagesAsUserHelper$")
		cmd.Env = append(os.Environ(), "DNSPIN_MESSAGES_ARGS="+strings.Join(tc.args, "\x1f"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("dnspin %s as nobody: %v, want exit 1\nstderr: %s", strings.Join(tc.args, " "), err, errb.String())
			continue
		}
		if errb.String() != tc.want || out.String() != tc.stdout {
			t.Errorf("dnspin %s as nobody:\nstderr %q\nwant   %q\nstdout %q\nwant   %q", strings.Join(tc.args, " "), errb.String(), tc.want, out.String(), tc.stdout)
		}
	}
}

// TestMessagesAsUserHelper is TestNotAdminMessages's child: it runs one
// command line (from the environment) and exits with its code.
func TestMessagesAsUserHelper(t *testing.T) {
	args := os.Getenv("DNSPIN_MESSAGES_ARGS")
	if args == "" {
		return // not a child: nothing to do (a skip would fail CI)
	}
	os.Exit(dispatch(context.Background(), &env{stdout: os.Stdout, stderr: os.Stderr, stdin: strings.NewReader("")}, strings.Split(args, "\x1f")))
}
