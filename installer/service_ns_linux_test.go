package installer

import (
	"bytes"
	"context"
	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/installer/activation/activationtest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/paths"
)

// A real install and uninstall of the service through kardianos/service
// (SysV here: no systemd as PID 1), inside a private mount and PID
// namespace with /etc on an overlay, so the machine's own /etc is never
// touched. The "dnspin" binary is a small script that records how it was
// started; what is under test is the service plumbing, not the resolver.
//
// It does not use internal/nstest: that gives a network and mount
// namespace but no PID namespace, and here the SysV supervisor and the fake
// dnspin are daemons. In a PID namespace (unshare --pid --mount-proc) they
// die with the test whatever happens; under nstest a failed uninstall would
// leave them running on the host. It also needs /var/log on a tmpfs (the
// SysV script logs there), which nstest does not mount, and no network.
func TestServiceInstallInNamespace(t *testing.T) {
	if os.Getenv("DNSPIN_NS_CHILD") == "1" {
		nsServiceChild(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for mount and PID namespaces")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	if _, err := exec.LookPath("service"); err != nil {
		t.Skip("service (init-system-helpers) is not installed")
	}
	hostBefore := hostServiceState()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc",
		os.Args[0], "-test.run", "^TestServiceInstallInNamespace$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "DNSPIN_NS_CHILD=1", "DNSPIN_NS_TMP="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("namespace run:\n%s", out)
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestServiceInstallInNamespace")) {
		t.Fatalf("install/uninstall in the namespace failed: %v", err)
	}
	if after := hostServiceState(); after != hostBefore {
		t.Fatalf("the host's /etc changed:\nbefore %s\nafter  %s", hostBefore, after)
	}
}

func hostServiceState() string {
	var b strings.Builder
	for _, p := range append([]string{"/etc/init.d/dnspin", "/etc/dnspin", "/etc/xdg/autostart/dnspin-tray.desktop"}, sysvLinks()...) {
		_, err := os.Lstat(p)
		b.WriteString(p + "=" + strconv.FormatBool(err == nil) + " ")
	}
	return b.String()
}

// wmWaitFor polls cond for up to limit; it is a wait, not a timing assertion.
func wmWaitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

func nsServiceChild(t *testing.T) {
	tmp := os.Getenv("DNSPIN_NS_TMP")
	for _, d := range []string{"upper", "work", "bin", "dnspin-state", "src"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mount("overlay", "/etc", "overlay", 0, "lowerdir=/etc,upperdir="+filepath.Join(tmp, "upper")+",workdir="+filepath.Join(tmp, "work")); err != nil {
		t.Fatalf("overlay on /etc: %v", err)
	}
	for _, d := range []string{"/run", "/var/log"} { // pid file and service log
		if err := syscall.Mount("tmpfs", d, "tmpfs", 0, "mode=0755"); err != nil {
			t.Fatalf("tmpfs on %s: %v", d, err)
		}
	}
	started := filepath.Join(tmp, "started")
	// Like the real daemon: it makes the control socket's folder and
	// writes to stderr, which the SysV supervisor sends to its log.
	fake := "#!/bin/sh\nmkdir -p /run/dnspin\necho \"dnspin: started $*\" >&2\necho \"$$ $*\" >>" + sysvQuote(started) + "\nexec sleep 600\n"
	src := filepath.Join(tmp, "src", "dnspin")
	tray := filepath.Join(tmp, "src", "dnspin-tray")
	for _, p := range []string{src, tray} {
		if err := os.WriteFile(p, []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tr := &activationtest.Transcript{}
	in := &Installer{
		GOOS:       "linux",
		Paths:      paths.Paths{Config: "/etc/dnspin/dnspin.toml", StateDir: filepath.Join(tmp, "dnspin-state"), Control: "/run/dnspin/dnspin.sock", BinDir: filepath.Join(tmp, "bin")},
		NewService: NewKardianosService(activation.OSFS{}),
		// DNS activation is the Linux configurator's business and tested
		// there; here it only has to be called and undone.
		NewConfigurator: func(ctx context.Context, o activation.Options) (activation.Configurator, error) {
			return recConfigurator{tr, o}, nil
		},
	}
	ctx := context.Background()
	steps, err := in.Install(ctx, InstallRequest{
		Config:   []byte("[platform]\ndomains = [\"tickets.example\"]\n"),
		Binaries: map[string]string{"dnspin": src, "dnspin-tray": tray},
		Plan:     activation.Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}},
	})
	t.Logf("install steps: %v", steps)
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	if !strings.Contains(steps[3].Detail, "unix-systemv") {
		t.Errorf("service platform: %v (expected SysV without systemd)", steps[3])
	}
	exe := filepath.Join(in.Paths.BinDir, "dnspin")
	script, err := os.ReadFile("/etc/init.d/dnspin")
	if err != nil || string(script) != SysvScript(ServiceSpec{Executable: exe, ConfigPath: in.Paths.Config}) {
		t.Fatalf("/etc/init.d/dnspin is not our script: %v\n%s", err, script)
	}
	for _, l := range sysvLinks() {
		if tgt, err := os.Readlink(l); err != nil || tgt != "/etc/init.d/dnspin" {
			t.Errorf("rc link %s: %q %v", l, tgt, err)
		}
	}
	if st, err := os.Stat(in.Paths.Config); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("config: %v %v", st, err)
	} else if err := CheckConfigPermissions(in.Paths.Config); err != nil {
		t.Errorf("installed config fails the start-up check: %v", err)
	}
	startedLines := func() []string {
		b, _ := os.ReadFile(started)
		if len(bytes.TrimSpace(b)) == 0 {
			return nil
		}
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	if !wmWaitFor(20*time.Second, func() bool { return len(startedLines()) >= 1 }) {
		t.Fatalf("the service did not start dnspin; log: %s", wmReadOr("/var/log/dnspin.err"))
	}
	first := startedLines()[0]
	if want := " run --service --config /etc/dnspin/dnspin.toml"; !strings.HasSuffix(first, want) {
		t.Fatalf("dnspin started as %q, want args %q", first, want)
	}

	// Restart on failure: kill -9 dnspin, the supervisor starts it again.
	pid, _ := strconv.Atoi(strings.Fields(first)[0])
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !wmWaitFor(20*time.Second, func() bool { return len(startedLines()) >= 2 }) {
		t.Fatal("dnspin was not restarted after kill -9")
	}
	second, _ := strconv.Atoi(strings.Fields(startedLines()[1])[0])

	// What the running service made outside the state dir: its log (by
	// the supervisor, for real) and the socket folder, here with a socket
	// a crash left behind.
	if b, err := os.ReadFile(SysvLogPath); err != nil || !bytes.Contains(b, []byte("dnspin: started run --service")) {
		t.Fatalf("the service did not write its log %s: %q %v", SysvLogPath, b, err)
	}
	if st, err := os.Stat("/run/dnspin"); err != nil || !st.IsDir() {
		t.Fatalf("the service did not make /run/dnspin: %v", err)
	}
	staleSocket(t, in.Paths.Control)

	// What a running service leaves in the state dir: uninstall removes it
	// for real (the dir itself was there before install, so it stays).
	learned := filepath.Join(in.Paths.StateDir, "learned", "answers.json")
	if err := os.MkdirAll(filepath.Dir(learned), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(learned, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Break the config, then uninstall: it must not care.
	if err := os.WriteFile(in.Paths.Config, []byte("garbage [[["), 0o644); err != nil {
		t.Fatal(err)
	}
	steps, err = in.Uninstall(ctx, UninstallOptions{})
	t.Logf("uninstall steps: %v", steps)
	if err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	for _, p := range append([]string{"/etc/init.d/dnspin", "/etc/dnspin", "/etc/xdg/autostart/dnspin-tray.desktop", exe, "/run/dnspin.pid", SysvLogPath, "/run/dnspin"}, sysvLinks()...) {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left behind by uninstall", p)
		}
	}
	if _, err := os.Lstat(filepath.Dir(learned)); err == nil {
		t.Errorf("learned answers left in %s by uninstall", in.Paths.StateDir)
	}
	if st, err := os.Stat(in.Paths.StateDir); err != nil || !st.IsDir() {
		t.Errorf("the state dir that was there before install is gone: %v", err)
	}
	if st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(second), "status")); err == nil && !bytes.Contains(st, []byte("State:\tZ")) {
		t.Errorf("dnspin (pid %d) still running after uninstall", second)
	}
	// A second uninstall with everything gone still succeeds.
	if _, err := in.Uninstall(ctx, UninstallOptions{}); err != nil {
		t.Errorf("uninstall when nothing is installed: %v", err)
	}

	// Install again, with the socket folder there before and holding
	// another program's file, then someone deletes the init script by
	// hand: uninstall still finishes and leaves nothing behind, and the
	// folder that was there stays with what is in it.
	other := "/run/dnspin/other.pid"
	if err := os.MkdirAll(filepath.Dir(other), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte("4242\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Install(ctx, InstallRequest{
		Config:   []byte("[platform]\ndomains = [\"tickets.example\"]\n"),
		Binaries: map[string]string{"dnspin": src},
		Plan:     activation.Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}},
	}); err != nil {
		t.Fatalf("second install: %v", err)
	}
	if !wmWaitFor(20*time.Second, func() bool { _, err := os.Stat(SysvLogPath); return err == nil }) {
		t.Fatal("the service did not write its log after the second install")
	}
	if err := exec.Command("service", "dnspin", "stop").Run(); err != nil {
		t.Fatal(err)
	}
	staleSocket(t, in.Paths.Control)
	if err := os.Remove("/etc/init.d/dnspin"); err != nil {
		t.Fatal(err)
	}
	steps, err = in.Uninstall(ctx, UninstallOptions{})
	t.Logf("uninstall after the init script was deleted: %v", steps)
	if err != nil {
		t.Fatalf("uninstall with the service gone: %v", err)
	}
	for _, p := range append([]string{"/etc/dnspin", exe, SysvLogPath, in.Paths.Control}, sysvLinks()...) {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	if b, err := os.ReadFile(other); err != nil || string(b) != "4242\n" {
		t.Errorf("uninstall removed %s, in a folder that was there before install: %q %v", other, b, err)
	}
	kept := false
	for _, s := range steps {
		kept = kept || (s.What == "dir" && s.Detail == "kept /run/dnspin (it was there before install)")
	}
	if !kept {
		t.Errorf("uninstall does not say why it kept /run/dnspin: %v", steps)
	}
}

func wmReadOr(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
