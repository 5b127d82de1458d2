package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dnspin/dnspin/installer"
)

// writeMessagesConfig writes src as a config whose state and control
// socket are in a temp dir, and returns its path.
func writeMessagesConfig(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "dnspin.toml")
	src = "state_dir = \"" + dir + "\"\ncontrol = \"" + filepath.Join(dir, "dnspin.sock") + "\"\n" + src
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMessages: what a person sees for the reported mistakes, exactly:
// one line that names the file and key (or the flag) and what to write.
// CONFIG in want is the config's path.
func TestMessages(t *testing.T) {
	for _, tc := range []struct {
		name       string
		config     string // "" : no --config
		args       []string
		code       int
		wantStderr string
		wantStdout string // checked when set
	}{
		{name: "bad flag, once", args: []string{"status", "--bogus"}, code: 2,
			wantStderr: "dnspin status: flag provided but not defined: -bogus\nusage: dnspin status [--json]\n"},
		{name: "bad flag value", args: []string{"query", "x.example", "--type", "A", "--server"}, code: 2,
			wantStderr: "dnspin query: flag needs an argument: -server\nusage: dnspin query " + cmdQuery.args + "\n"},
		{name: "domains not a list", config: "[platform]\ndomains = \"x\"\n", args: []string{"check"}, code: 1,
			wantStderr: "dnspin check: config CONFIG:4: platform.domains: expects a list, e.g. domains = [\"x\"]\n"},
		{name: "bad pin address", config: "[platform]\ndomains = [\"x.example\"]\n[[pin]]\nname = \"a.x.example\"\na = [\"192.0.2.300\"]\n", args: []string{"run"}, code: 1,
			wantStderr: "dnspin run: config CONFIG:7: pin.a: \"192.0.2.300\" is not an IP address: write it like \"192.0.2.10\"\n"},
		{name: "allow_remote without clients", config: "allow_remote = true\nlisten = [\"[::]:53\"]\n", args: []string{"run"}, code: 1,
			wantStderr: "dnspin run: config CONFIG:3: allow_remote: needs a list of the clients that may ask: add allow_clients = [\"192.168.1.0/24\"] with your networks (loopback is always allowed)\n"},
		{name: "empty config protects nothing", config: "", args: []string{"check"}, code: 1,
			wantStdout: "FAIL CONFIG protects no names: it has no [platform] domains, so dnspin only forwards DNS; add them under [platform], e.g. domains = [\"tickets.example\"]\n",
			wantStderr: "dnspin check: some checks failed (see above)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			path := ""
			if tc.config != "" || tc.name == "empty config protects nothing" {
				path = writeMessagesConfig(t, tc.config)
				args = append(append([]string(nil), args...), "--config", path)
			}
			code, out, errs := runCmd(t, args...)
			wantErr := strings.ReplaceAll(tc.wantStderr, "CONFIG", path)
			if code != tc.code || errs != wantErr {
				t.Errorf("dnspin %s: exit %d, stderr\n%q\nwant exit %d, stderr\n%q", strings.Join(args, " "), code, errs, tc.code, wantErr)
			}
			if want := strings.ReplaceAll(tc.wantStdout, "CONFIG", path); tc.wantStdout != "" && out != want {
				t.Errorf("stdout\n%q\nwant\n%q", out, want)
			}
		})
	}
}

// TestInstallReportOneLine: install's --silent JSON error is one line; a
// permission error says how to get the right; only an install that did
// something points at uninstall.
func TestInstallReportOneLine(t *testing.T) {
	perm := &fs.PathError{Op: "mkdir", Path: "/var/lib/dnspin", Err: syscall.EACCES}
	hint := installer.AdminHint("install")
	for _, tc := range []struct {
		name  string
		steps []installer.Step
		err   error
		want  string
	}{
		{"nothing done", nil, perm,
			`{"command":"install","ok":false,"steps":[],"error":"mkdir /var/lib/dnspin: permission denied: ` + hint + `"}` + "\n"},
		{"half done", []installer.Step{{What: "config", Detail: "/etc/dnspin/dnspin.toml"}}, errors.New("register the service: exit status 1\nFailed to start dnspin.service"),
			`{"command":"install","ok":false,"steps":[{"what":"config","detail":"/etc/dnspin/dnspin.toml"}],"error":"register the service: exit status 1; Failed to start dnspin.service; ` + "`dnspin uninstall`" + ` takes back the 1 step(s) done so far"}` + "\n"},
	} {
		var out bytes.Buffer
		report(&env{stdout: &out, stderr: &out}, "install", true, tc.steps, tc.err)
		if got := strings.ReplaceAll(out.String(), `\u0060`, "`"); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
