package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSysoThenCheck makes the .syso the release uses, links it into a
// Windows executable and runs the release check on it; the same program
// without the .syso must fail the check.
func TestSysoThenCheck(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH to link a test executable")
	}
	dir := t.TempDir()
	for name, s := range map[string]string{"go.mod": "module probe\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() {}\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := func(exe string) {
		t.Helper()
		cmd := exec.Command(gobin, "build", "-o", exe, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	bare := filepath.Join(dir, "bare.exe")
	build(bare)
	if err := run([]string{"check", "-version", "1.2.3", bare}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "no resources") {
		t.Errorf("check of an executable without resources: %v, want 'has no resources'", err)
	}

	ico := filepath.Join(dir, "x.ico")
	if err := run([]string{"ico", "-o", ico}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	syso := filepath.Join(dir, "rsrc_windows_amd64.syso")
	if err := run([]string{"syso", "-arch", "amd64", "-version", "1.2.3-rc1", "-file", "probe.exe", "-desc", "probe", "-icon", ico, "-o", syso}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "probe.exe")
	build(exe)
	var out bytes.Buffer
	if err := run([]string{"check", "-version", "1.2.3-rc1", exe}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "dnspin 1.2.3-rc1 (probe)") {
		t.Errorf("check output %q", out.String())
	}
	if err := run([]string{"check", "-version", "1.2.4", exe}, &bytes.Buffer{}); err == nil {
		t.Error("check accepted the wrong version")
	}
	if err := run([]string{"syso", "-icon", filepath.Join(dir, "main.go"), "-o", syso}, &bytes.Buffer{}); err == nil {
		t.Error("syso accepted a non-icon -icon file")
	}
}
