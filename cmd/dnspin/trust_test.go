package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/bundle"
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/daemon"
	"github.com/dnspin/dnspin/internal/nstest"
	"github.com/dnspin/dnspin/resolver"
)

// leakedMirror is issue 12's example: a bundle mirror URL with
// credentials, as the fetcher quotes it in its errors.
const leakedMirror = "https://alice:hunter2@pins.mirror.example/pins.json?token=SECRET123"

const redactedMirror = "https://[redacted]@pins.mirror.example/pins.json?[redacted]"

func hasMirrorSecret(s string) bool {
	return strings.Contains(s, "hunter2") || strings.Contains(s, "SECRET123") || strings.Contains(s, "alice")
}

// The service as seen by a user who is not an administrator (AdminUID
// 4242: this test process is not it; internal/control's tests do the same
// with real other users): auto and pinned work, passthrough is refused in
// one line that names the right and what to do, the report is reduced and
// says so.
func TestCommandsWithoutAdminRights(t *testing.T) {
	t.Parallel()
	svc := newFakeControl()
	cfg := startControlServer(t, svc, control.ServerOptions{AdminUID: 4242})
	for _, m := range []string{"pinned", "auto"} {
		if code, _, errs := runCmd(t, "mode", m, "--config", cfg); code != 0 {
			t.Fatalf("mode %s: exit %d, %s", m, code, errs)
		}
	}
	code, out, errs := runCmd(t, "mode", "passthrough", "--config", cfg)
	want := "dnspin mode: switching to passthrough turns the backup addresses off and needs an administrator: run dnspin mode passthrough as root (sudo) or as a member of the dnspin group\n"
	if code != 1 || out != "" || errs != want {
		t.Fatalf("mode passthrough: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errs, want)
	}
	if m := svc.Status(context.Background()).Mode; m != "auto" {
		t.Fatalf("mode is %s after a refused passthrough", m)
	}

	file := filepath.Join(t.TempDir(), "r.txt")
	code, out, errs = runCmd(t, "report", "-o", file, "--config", cfg)
	if code != 0 || !strings.HasPrefix(out, "Support report written to ") ||
		errs != "note: this report has no configuration and no log, which need an administrator: run dnspin report as root (sudo) or as a member of the dnspin group for the full report\n" {
		t.Fatalf("reduced report: exit %d, %q %q", code, out, errs)
	}
	b, _ := os.ReadFile(file)
	if rep := string(b); strings.Contains(rep, "msg=started") || strings.Contains(rep, "public_key") || !strings.Contains(rep, "Reduced report: without the configuration and the log") {
		t.Fatalf("reduced report:\n%s", rep)
	}
}

// Issue 12's leaked URL, in the bundle error of the status: status --json,
// status and every section of the report (status, checks, config, log,
// notes) show it redacted.
func TestMirrorSecretsRedactedEverywhere(t *testing.T) {
	t.Parallel()
	svc := newFakeControl()
	svc.Update(func(st *control.Status) {
		st.Bundle.LastError = leakedMirror + ": HTTP 503"
		st.Bundle.Source = leakedMirror
		st.StateReason = "bundle mirror " + leakedMirror + " failed"
	})
	svc.SetReportInputs(control.ReportInputs{
		ConfigText: "[bundle]\nurls = [\"" + leakedMirror + "\"]\n",
		LogLines:   []string{`level=WARN msg="bundle: mirror failed" url=` + leakedMirror},
		Notes:      []string{"mirror: " + leakedMirror},
		Check:      &control.CheckReport{Results: []control.CheckResult{{Name: "bundle", Detail: "mirror " + leakedMirror + " answers"}}},
	})
	cfg := startControlServer(t, svc)

	code, out, errs := runCmd(t, "status", "--json", "--config", cfg)
	var st control.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status --json: exit %d, %q %q", code, out, errs)
	}
	if hasMirrorSecret(out) || !strings.HasPrefix(st.Bundle.LastError, redactedMirror) || st.Bundle.Source != redactedMirror {
		t.Errorf("status --json:\n%s", out)
	}
	if code, out, _ := runCmd(t, "status", "--config", cfg); code != 0 || hasMirrorSecret(out) || !strings.Contains(out, "last error: "+redactedMirror) {
		t.Errorf("status:\n%s", out)
	}
	code, out, errs = runCmd(t, "report", "-o", "-", "--config", cfg)
	if code != 0 || hasMirrorSecret(out) {
		t.Fatalf("report: exit %d, %s\n%s", code, errs, out)
	}
	for _, sec := range []string{"== Status ==", "== Checks ==", "== Configuration", "== Notes ==", "== Recent log"} {
		i := strings.Index(out, sec)
		j := strings.Index(out[i+1:], "\n== ")
		if i < 0 || j < 0 || !strings.Contains(out[i:i+1+j], redactedMirror) {
			t.Errorf("section %q lacks the redacted URL:\n%s", sec, out)
		}
	}
}

// The daemon's logger redacts every line it writes: stderr or the log
// file, and the ring the report copies.
func TestLoggerRedacts(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	ring := control.NewLogRing(10, nil)
	log := newLogger(&buf, ring)
	log.Warn("bundle: mirror "+leakedMirror+" failed", "url", leakedMirror, "err", errors.New(leakedMirror+": HTTP 503"), "public_key", "ed25519:AAAA")
	log.With("source", leakedMirror).Info("bundle: applied", "serial", 7)
	lines := append([]string{buf.String()}, ring.Lines()...)
	for _, l := range lines {
		if hasMirrorSecret(l) || strings.Contains(l, "ed25519:AAAA") {
			t.Errorf("log line leaks: %s", l)
		}
	}
	for _, want := range []string{"url=" + redactedMirror, `err="` + redactedMirror, `msg="bundle: mirror ` + redactedMirror + ` failed"`, "source=" + redactedMirror, "serial=7", `public_key="[redacted, sha256 `} {
		if !strings.Contains(buf.String(), want) || !strings.Contains(strings.Join(ring.Lines(), "\n"), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}

// The whole daemon with a bundle mirror URL carrying credentials, as in
// issue 12: the real fetcher fails on it (nothing listens there) and
// quotes it; status --json, status and the log show it redacted.
func TestDaemonRedactsMirrorSecrets(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // refused from now on: the fetch fails at once
	mirror := fmt.Sprintf("https://alice:hunter2@127.0.0.1:%d/pins.json?token=SECRET123", port)
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "dnspin.toml")
	src := fmt.Sprintf(`listen = ["127.0.0.1:0"]
upstreams = ["127.0.0.1:9"]
state_dir = %q
control = %q
[platform]
name = "Example Tickets"
domains = ["tickets.test"]
[bundle]
urls = [%q]
public_key = %q
`, dir, filepath.Join(dir, "dnspin.sock"), mirror, bundle.FormatPublicKey(pub))
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs nstest.SyncBuffer // the daemon logs from many goroutines
	ring := control.NewLogRing(50, nil)
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, cfg, daemon.Options{Logger: newLogger(&logs, ring), Ring: ring, Ready: func(*resolver.Resolver) { close(ready) }})
	}()
	defer func() { cancel(); <-done }()
	select {
	case <-ready:
	case err := <-done:
		done <- err
		t.Fatalf("daemon: %v", err)
	}

	// Wait for the first fetch round to fail (a hang guard, not a timing claim).
	c := control.NewClient(cfg.Control)
	var st control.Status
	for stop := time.Now().Add(30 * time.Second); ; waitABit() {
		if st, err = c.Status(context.Background()); err == nil && st.Bundle != nil && st.Bundle.LastError != "" {
			break
		}
		if time.Now().After(stop) {
			t.Fatalf("no bundle error in the status: %+v, %v", st.Bundle, err)
		}
	}
	redacted := fmt.Sprintf("https://[redacted]@127.0.0.1:%d/pins.json?[redacted]", port)
	code, out, errs := runCmd(t, "status", "--json", "--config", path)
	if code != 0 || hasMirrorSecret(out) || !strings.Contains(out, redacted) {
		t.Errorf("status --json: exit %d %s\n%s", code, errs, out)
	}
	code, out, _ = runCmd(t, "status", "--config", path)
	if code != 0 || hasMirrorSecret(out) || !strings.Contains(out, "last error: "+redacted) {
		t.Errorf("status:\n%s", out)
	}
	l := logs.String()
	if hasMirrorSecret(l) || !strings.Contains(l, "url="+redacted) || hasMirrorSecret(strings.Join(ring.Lines(), "\n")) {
		t.Errorf("log:\n%s", l)
	}
}
