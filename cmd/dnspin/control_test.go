package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/control/controltest"
)

func controlStatusFixture() control.Status {
	return control.Status{
		Version: "1.2.3", Mode: "auto", State: "degraded", StateSince: "2026-11-25T14:02:00Z",
		Activation: "scoped", Activated: true, Listen: []string{"127.0.0.1:53", "[::1]:53"},
		Upstreams: []control.Upstream{{Address: "192.0.2.53:53", Healthy: false}, {Address: "192.0.2.54:53", Healthy: true, RTTMs: 12.5}},
		Platform:  control.Platform{Name: "Example Tickets", Domains: []string{"tickets.example", "cdn-tickets.example"}, Pins: 2, Learned: 7},
		Answers:   control.Answers{Upstream: 120, Cache: 40, Pinned: 3},
		Bundle:    &control.Bundle{Serial: 7, Pins: 2, Expires: "2026-12-01T00:00:00Z"},
	}
}

// startControlServer runs the real control server for svc and writes a
// config naming its socket; it returns the config path.
func startControlServer(t *testing.T, svc control.Backend, opts ...control.ServerOptions) string {
	t.Helper()
	var o control.ServerOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	return writeControlConfig(t, t.TempDir(), controltest.Serve(t, svc, o))
}

func writeControlConfig(t *testing.T, dir, sock string) string {
	cfg := filepath.Join(dir, "dnspin.toml")
	if err := os.WriteFile(cfg, []byte("listen = [\"127.0.0.1:5353\"]\ncontrol = \""+sock+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newFakeControl is the service behind the commands' tests: the status
// fixture, a passing check with one result, a config and a log line.
func newFakeControl() *controltest.Backend {
	be := controltest.NewBackend(controlStatusFixture())
	be.SetCheck(control.CheckReport{Time: "2026-11-25T14:03:00Z", OK: true, Results: []control.CheckResult{{Name: "system-uses-dnspin", OK: true, Detail: "This computer asks dnspin."}}})
	be.SetReportInputs(control.ReportInputs{ConfigText: "[bundle]\npublic_key = \"ed25519:SECRETISH\"\n", LogLines: []string{"level=INFO msg=started"}})
	return be
}

func TestStatusCommand(t *testing.T) {
	t.Parallel()
	cfg := startControlServer(t, newFakeControl())
	code, out, errs := runCmd(t, "status", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(out, "\n")
	if lines[0] != control.Summary(controlStatusFixture()) || !strings.HasPrefix(lines[0], "dnspin 1.2.3: DEGRADED") {
		t.Fatalf("first line %q", lines[0])
	}
	for _, want := range []string{
		"State:       degraded since 2026-11-25 14:02:00 UTC",
		"System DNS:  uses dnspin (activation scoped)",
		"Upstreams:   192.0.2.53:53  NOT answering\n             192.0.2.54:53  answers, 12.5 ms",
		"Backup:      2 pinned names, 7 learned answers",
		"Bundle:      serial 7, 2 pins, expires 2026-12-01 00:00:00 UTC",
		"Answers:     upstream 120, cache 40, stale 0, pinned 3, learned 0, servfail 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCmd(t, "status", "--json", "--config", cfg)
	var st control.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.State != "degraded" || st.Upstreams[1].RTTMs != 12.5 {
		t.Fatalf("status --json: exit %d, %q", code, out)
	}
	if code, _, _ := runCmd(t, "status", "extra", "--config", cfg); code != 2 {
		t.Fatalf("status extra: exit %d, want 2", code)
	}
}

func TestModeCommand(t *testing.T) {
	t.Parallel()
	svc := newFakeControl()
	cfg := startControlServer(t, svc)
	code, out, errs := runCmd(t, "mode", "pinned", "--config", cfg)
	if code != 0 || out != "Mode is now pinned: the platform's names are answered from backup addresses at once\n" {
		t.Fatalf("mode pinned: exit %d, %q %q", code, out, errs)
	}
	if svc.Status(context.Background()).Mode != "pinned" {
		t.Fatal("service mode unchanged")
	}
	for _, args := range [][]string{{"mode"}, {"mode", "fast"}, {"mode", "auto", "pinned"}} {
		if code, _, errs := runCmd(t, append(args, "--config", cfg)...); code != 2 || !strings.Contains(errs, "usage: dnspin mode auto|pinned|passthrough") {
			t.Errorf("%q: exit %d, %q", args, code, errs)
		}
	}
	svc.FailSetMode(func(string) error {
		return controlErr("cannot switch: the resolver is restarting, try again in a few seconds")
	})
	code, _, errs = runCmd(t, "mode", "auto", "--config", cfg)
	if code != 1 || errs != "dnspin mode: cannot switch: the resolver is restarting, try again in a few seconds\n" {
		t.Fatalf("backend error: exit %d, %q", code, errs)
	}
}

type controlErr string

func (e controlErr) Error() string { return string(e) }

func TestReportCommand(t *testing.T) {
	t.Parallel()
	cfg := startControlServer(t, newFakeControl())
	file := filepath.Join(t.TempDir(), "r.txt")
	code, out, errs := runCmd(t, "report", "-o", file, "--config", cfg)
	if code != 0 || !strings.HasPrefix(out, "Support report written to "+file+" (") {
		t.Fatalf("report: exit %d, %q %q", code, out, errs)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rep := string(b)
	if !strings.HasPrefix(rep, "dnspin support report\n") || !strings.Contains(rep, "[ok  ] system-uses-dnspin") ||
		strings.Contains(rep, "SECRETISH") || !strings.Contains(rep, "level=INFO msg=started") {
		t.Fatalf("report file:\n%s", rep)
	}
	if code, out, _ := runCmd(t, "report", "-o", "-", "--config", cfg); code != 0 || !strings.HasPrefix(out, "dnspin support report\n") {
		t.Fatalf("report -o -: exit %d", code)
	}
}

// Without -o the report lands in the current directory under a dated name.
func TestReportDefaultName(t *testing.T) {
	cfg := startControlServer(t, newFakeControl())
	dir := t.TempDir()
	t.Chdir(dir)
	code, out, errs := runCmd(t, "report", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), "dnspin-report-") || !strings.HasSuffix(ents[0].Name(), ".txt") {
		t.Fatalf("files %v", ents)
	}
	if !strings.Contains(out, filepath.Join(dir, ents[0].Name())) {
		t.Fatalf("output %q does not say where", out)
	}
}

func TestControlCommandsNotRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "none.sock")
	cfg := writeControlConfig(t, dir, sock)
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"mode", "pinned"}, {"report", "-o", filepath.Join(dir, "r.txt")}} {
		code, out, errs := runCmd(t, append(args, "--config", cfg)...)
		want := "dnspin " + args[0] + ": dnspin is not running (no service at " + sock + "). Start it with: dnspin run --config " + cfg + "\n"
		if code != 1 || out != "" || errs != want {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 1 and %q", args, code, out, errs, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "r.txt")); err == nil {
		t.Error("report wrote a file although no service runs")
	}
}

func TestControlCommandsBadConfig(t *testing.T) {
	t.Parallel()
	code, _, errs := runCmd(t, "status", "--config", filepath.Join(t.TempDir(), "missing.toml"))
	if code != 1 || !strings.Contains(errs, "missing.toml does not exist") {
		t.Fatalf("exit %d, %q", code, errs)
	}
}
