package installer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/installer/activation/activationtest"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dnspin/dnspin/internal/paths"
)

type fakeService struct {
	tr        *activationtest.Transcript
	platform  string
	installed bool
	gone      bool // uninstalled behind our back
}

func (f *fakeService) factory(spec ServiceSpec) (ServiceManager, error) {
	f.tr.Add("service new exe=%s args=%q", spec.Executable, spec.Arguments())
	return f, nil
}
func (f *fakeService) Install() error {
	f.tr.Add("service install")
	f.installed = true
	return nil
}
func (f *fakeService) Uninstall() error {
	f.tr.Add("service uninstall")
	if !f.installed {
		return ErrServiceNotInstalled
	}
	f.installed = false
	return nil
}
func (f *fakeService) Start() error     { f.tr.Add("service start"); return nil }
func (f *fakeService) Stop() error      { f.tr.Add("service stop"); return nil }
func (f *fakeService) Platform() string { return f.platform }

// recConfigurator stands in for the Linux configurator (another package
// piece) in the install sequence: it records calls and keeps a journal.
type recConfigurator struct {
	tr *activationtest.Transcript
	o  activation.Options
}

func (c recConfigurator) Apply(ctx context.Context, p activation.Plan) error {
	c.tr.Add("configurator apply %s %v", p.Mode, p.Domains)
	return activation.WriteJournal(c.o.FS, c.o.StateDir, &activation.Journal{Backend: "test", Active: true, Plan: p})
}
func (c recConfigurator) Restore(ctx context.Context) error {
	j, err := activation.ReadJournal(c.o.FS, c.o.StateDir)
	if err != nil || j == nil {
		c.tr.Add("configurator restore (no journal)")
		return err
	}
	c.tr.Add("configurator restore")
	return activation.RemoveJournal(c.o.FS, c.o.StateDir)
}
func (c recConfigurator) Current(ctx context.Context) (activation.Snapshot, error) {
	return activation.Snapshot{}, nil
}

type installRig struct {
	tr  *activationtest.Transcript
	fs  *activationtest.FS
	svc *fakeService
	reg *activationtest.Registry
	in  *Installer
	req InstallRequest
}

func pathsFor(goos string) paths.Paths {
	switch goos {
	case "windows":
		return paths.Paths{Config: `C:\ProgramData\dnspin\dnspin.toml`, StateDir: `C:\ProgramData\dnspin`, Control: `\\.\pipe\dnspin`, BinDir: `C:\Program Files\dnspin`}
	case "darwin":
		return paths.Paths{Config: "/Library/Application Support/dnspin/dnspin.toml", StateDir: "/Library/Application Support/dnspin", Control: "/var/run/dnspin/dnspin.sock", BinDir: "/usr/local/bin"}
	}
	return paths.Paths{Config: "/etc/dnspin/dnspin.toml", StateDir: "/var/lib/dnspin", Control: "/run/dnspin/dnspin.sock", BinDir: "/usr/local/bin"}
}

func newInstallRig(t *testing.T, goos string) *installRig {
	tr := &activationtest.Transcript{}
	r := &installRig{tr: tr, fs: manifestFS(tr), svc: &fakeService{tr: tr, platform: map[string]string{"linux": "unix-systemv", "windows": "windows-service", "darwin": "darwin-launchd"}[goos]}}
	run := activationtest.NewScriptRunner(tr)
	for _, d := range []string{"/etc", "/usr/local/bin", "/var/lib", "/var/log", "/run", "/var/run", "/Library/Application Support", "/Library/LaunchAgents", "/Library/Logs", `C:\ProgramData`, `C:\Program Files`} {
		r.fs.Mkdirs(d, 0o755)
	}
	src := t.TempDir()
	bins := map[string]string{}
	for _, n := range []string{"dnspin", "dnspin-tray"} {
		if goos == "windows" {
			n += ".exe"
		}
		p := filepath.Join(src, n)
		if err := os.WriteFile(p, []byte("binary "+n), 0o755); err != nil {
			t.Fatal(err)
		}
		bins[n] = p
	}
	plan := activation.Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}}
	r.req = InstallRequest{Config: []byte("[platform]\ndomains = [\"tickets.example\"]\n"), Binaries: bins, Plan: plan}
	r.in = &Installer{GOOS: goos, Paths: pathsFor(goos), FS: r.fs, Run: run.Run, NewService: r.svc.factory}
	switch goos {
	case "windows":
		r.reg = activationtest.WindowsMachine(tr)
		r.in.Registry = r.reg
		r.in.NewConfigurator = func(ctx context.Context, o activation.Options) (activation.Configurator, error) {
			return activation.NewWindowsConfigurator(o, r.reg), nil
		}
	case "darwin":
		ns := &activationtest.Networksetup{Order: []string{"Wi-Fi"}, DNS: map[string][]string{}}
		run.Handler = ns.Handle
		r.fs.Mkdirs("/etc", 0o755)
		r.in.NewConfigurator = func(ctx context.Context, o activation.Options) (activation.Configurator, error) {
			return activation.NewMacOSConfigurator(o), nil
		}
	default:
		r.in.NewConfigurator = func(ctx context.Context, o activation.Options) (activation.Configurator, error) {
			return recConfigurator{tr, o}, nil
		}
	}
	return r
}

// manifestFS is the in-memory file system that shows a write of the
// install manifest as its record count and last step.
func manifestFS(tr *activationtest.Transcript) *activationtest.FS {
	m := activationtest.NewFS(tr)
	m.Describe = func(op, name string, data []byte) (string, bool, error) {
		if !strings.HasSuffix(name, ManifestFile) {
			return "", false, nil
		}
		var mf Manifest
		if err := json.Unmarshal(data, &mf); err != nil {
			return "", false, err
		}
		last := mf.Records[len(mf.Records)-1]
		return fmt.Sprintf("%s manifest %s records=%d last=%s %s", op, name, len(mf.Records), last.Kind, last.Key), true, nil
	}
	return m
}

// normal replaces the temp dir of the source binaries in transcripts.
func (r *installRig) transcript() string {
	s := r.tr.String()
	for _, p := range r.req.Binaries {
		s = strings.ReplaceAll(s, filepath.Dir(p), "SRC")
	}
	return s
}

func stepLines(tr *activationtest.Transcript, steps []Step) {
	for _, s := range steps {
		tr.Add("  => %s: %s", s.What, s.Detail)
	}
}

func TestInstallUninstallTranscripts(t *testing.T) {
	for _, goos := range []string{"linux", "windows", "darwin"} {
		t.Run(goos, func(t *testing.T) {
			ctx := context.Background()
			r := newInstallRig(t, goos)
			r.fs.SeedFile(r.in.Paths.Config, "# an older config\n", 0o640) // a reinstall over a hand-made config
			beforeFS := r.fs.Dump("")
			var beforeReg string
			if r.reg != nil {
				beforeReg = r.reg.Dump()
			}
			r.tr.Section("install")
			steps, err := r.in.Install(ctx, r.req)
			if err != nil {
				t.Fatal(err)
			}
			stepLines(r.tr, steps)
			if b, _ := r.fs.ReadFile(r.in.Paths.Config); string(b) != string(r.req.Config) {
				t.Errorf("installed config = %q", b)
			}
			if st, _ := r.fs.Stat(r.in.Paths.Config); st.Mode().Perm() != 0o644 {
				t.Errorf("installed config mode %v, want 0644", st.Mode())
			}
			r.tr.Section("install again (upgrade)")
			steps, err = r.in.Install(ctx, r.req)
			if err != nil {
				t.Fatal(err)
			}
			stepLines(r.tr, steps)
			seedRuntime(r, true)
			r.tr.Section("uninstall")
			steps, err = r.in.Uninstall(ctx, UninstallOptions{})
			if err != nil {
				t.Fatal(err)
			}
			stepLines(r.tr, steps)
			if after := r.fs.Dump(""); after != beforeFS {
				t.Errorf("files after uninstall differ from before install:\n%s", activationtest.LineDiff(beforeFS, after))
			}
			if r.reg != nil && r.reg.Dump() != beforeReg {
				t.Errorf("registry after uninstall differs:\n%s", activationtest.LineDiff(beforeReg, r.reg.Dump()))
			}
			if r.svc.installed {
				t.Error("service still registered after uninstall")
			}
			activationtest.CheckGolden(t, "install_"+goos, r.transcript())
		})
	}
}

// Uninstall works when the service was removed by hand and the config is
// garbage, and when the manifest itself is gone.
func TestUninstallWhenServiceGoneAndConfigBroken(t *testing.T) {
	ctx := context.Background()
	r := newInstallRig(t, "linux")
	if _, err := r.in.Install(ctx, r.req); err != nil {
		t.Fatal(err)
	}
	r.svc.installed = false
	if err := r.fs.WriteFileAtomic(r.in.Paths.Config, []byte("this is [not toml"), 0o644); err != nil {
		t.Fatal(err)
	}
	steps, err := r.in.Uninstall(ctx, UninstallOptions{})
	if err != nil {
		t.Fatalf("uninstall with the service gone and a broken config: %v (%v)", err, steps)
	}
	if _, err := r.fs.Stat(r.in.Paths.Config); err == nil {
		t.Error("config left behind")
	}
	if _, err := r.fs.Stat("/var/lib/dnspin/" + activation.JournalFile); err == nil {
		t.Error("DNS not restored")
	}

	// Manifest lost: the default locations are cleaned all the same.
	r = newInstallRig(t, "linux")
	if _, err := r.in.Install(ctx, r.req); err != nil {
		t.Fatal(err)
	}
	if err := r.fs.Remove("/var/lib/dnspin/" + ManifestFile); err != nil {
		t.Fatal(err)
	}
	if _, err := r.in.Uninstall(ctx, UninstallOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/etc/dnspin/dnspin.toml", "/usr/local/bin/dnspin", "/usr/local/bin/dnspin-tray", "/etc/xdg/autostart/dnspin-tray.desktop", "/var/lib/dnspin/" + activation.JournalFile} {
		if _, err := r.fs.Stat(p); err == nil {
			t.Errorf("%s left behind without a manifest", p)
		}
	}
}

// An install cut short (service start fails) is still reversed by uninstall.
func TestInterruptedInstallIsReversible(t *testing.T) {
	ctx := context.Background()
	r := newInstallRig(t, "linux")
	before := r.fs.Dump("")
	failing := &failStart{fakeService: r.svc}
	r.in.NewService = func(ServiceSpec) (ServiceManager, error) { return failing, nil }
	if _, err := r.in.Install(ctx, r.req); err == nil {
		t.Fatal("install with a failing service start succeeded")
	}
	if _, err := r.in.Uninstall(ctx, UninstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if after := r.fs.Dump(""); after != before {
		t.Errorf("leftovers after an interrupted install and uninstall:\n%s", activationtest.LineDiff(before, after))
	}
}

type failStart struct{ *fakeService }

func (f *failStart) Start() error { return errors.New("service dnspin failed to start") }

func TestServiceFiles(t *testing.T) {
	spec := ServiceSpec{Executable: "/usr/local/bin/dnspin", ConfigPath: "/etc/dnspin/dnspin.toml"}
	unit := SystemdUnit(spec)
	activationtest.CheckGolden(t, "dnspin.service", unit)
	activationtest.CheckGolden(t, "sysv_dnspin.sh", SysvScript(spec))
	if strings.Contains(SysvScript(spec), "{{") || strings.Contains(unit, "{{") {
		t.Error("service texts must not contain template actions: kardianos renders them as templates")
	}
	if q := sysvQuote("/opt/it's here/dnspin"); q != `'/opt/it'\''s here/dnspin'` {
		t.Errorf("sysvQuote = %s", q)
	}
	activationtest.CheckGolden(t, "launchd_dnspin.plist", LaunchdPlist(ServiceSpec{Executable: "/usr/local/bin/dnspin", ConfigPath: "/Library/Application Support/dnspin/dnspin.toml"}))
	activationtest.CheckGolden(t, "autostart_linux.desktop", TrayAutostartFor("linux", "/usr/local/bin/dnspin-tray").Content)
	activationtest.CheckGolden(t, "autostart_darwin.plist", TrayAutostartFor("darwin", "/usr/local/bin/dnspin-tray").Content)
	if a := TrayAutostartFor("windows", `C:\Program Files\dnspin\dnspin-tray.exe`); a.RunKey != TrayRunValue || a.Content != `"C:\Program Files\dnspin\dnspin-tray.exe"` {
		t.Errorf("windows autostart %+v", a)
	}
	cfg := ServiceConfig(spec, "linux")
	if cfg.Name != "dnspin" || cfg.DisplayName != "dnspin – keeps the ticketing platform reachable" || strings.Join(cfg.Arguments, " ") != "run --service --config /etc/dnspin/dnspin.toml" || cfg.Option["SystemdScript"] != unit {
		t.Errorf("service config %+v", cfg)
	}
	if !strings.Contains(unit, "\nRestart=always\n") || !strings.Contains(LaunchdPlist(spec), "<key>KeepAlive</key>\n\t<true/>") {
		t.Error("restart on failure missing")
	}
	if q := systemdQuote(`/opt/my dir/dnspin`); q != `"/opt/my dir/dnspin"` {
		t.Errorf("systemdQuote = %s", q)
	}

	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed (Debian package systemd): unit file checked against the golden file only")
		return
	}
	// verify needs the ExecStart binary to exist: point it at a real file.
	dir := t.TempDir()
	exe := filepath.Join(dir, "dnspin")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "dnspin.service")
	if err := os.WriteFile(p, []byte(SystemdUnit(ServiceSpec{Executable: exe, ConfigPath: "/etc/dnspin/dnspin.toml"})), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", "--man=no", p).CombinedOutput()
	// Without systemd as PID 1 verify may complain about the manager, not
	// the unit; only lines naming our file count.
	var bad []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "dnspin.service") {
			bad = append(bad, l)
		}
	}
	if len(bad) > 0 {
		t.Errorf("systemd-analyze verify (%v):\n%s", err, strings.Join(bad, "\n"))
	}
	t.Logf("systemd-analyze verify: err=%v output=%q", err, out)
}

// seedRuntime puts what the running service makes outside the state dir:
// the service manager's stderr log (SysV, launchd) and the control
// socket's folder, with the socket in it when the service crashed (stale).
// Windows has neither. It returns the paths it made.
func seedRuntime(r *installRig, stale bool) []string {
	if r.in.GOOS == "windows" {
		return nil
	}
	var ps []string
	if p := ServiceLogPath(r.in.GOOS, r.svc.platform); p != "" {
		r.fs.SeedFile(p, "dnspin: started\n", 0o644)
		ps = append(ps, p)
	}
	d := r.in.dir(r.in.Paths.Control)
	r.fs.Mkdirs(d, 0o755)
	ps = append(ps, d)
	if stale {
		r.fs.SeedFile(r.in.Paths.Control, "", fs.ModeSocket|0o666)
		ps = append(ps, r.in.Paths.Control)
	}
	return ps
}

// seedState puts what a running dnspin leaves in the state dir.
func seedState(r *installRig) []string {
	var ps []string
	for _, n := range []string{"learned-answers.json", "bundle.json", "dnspin.log", "dnspin-2026-11-25T10-00-00.000.log"} {
		p := r.in.join(r.in.Paths.StateDir, n)
		r.fs.SeedFile(p, "state "+n, 0o600)
		ps = append(ps, p)
	}
	return ps
}

// By default uninstall removes everything dnspin created, learned answers,
// bundle and logs included, leaving the machine as before install (a state
// dir that was there before stays, empty, and a config found there comes
// back). With KeepState the config and the state dir stay for a reinstall.
func TestUninstallRemovesStateUnlessKept(t *testing.T) {
	ctx := context.Background()
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos+"/default", func(t *testing.T) {
			r := newInstallRig(t, goos)
			if goos != "linux" {
				// The config lives in the state dir here: a dir that was
				// there before, with an older config in it.
				r.fs.SeedFile(r.in.Paths.Config, "# an older config\n", 0o640)
			}
			before := r.fs.Dump("")
			if _, err := r.in.Install(ctx, r.req); err != nil {
				t.Fatal(err)
			}
			seedState(r)
			seedRuntime(r, false)
			if _, err := r.in.Uninstall(ctx, UninstallOptions{}); err != nil {
				t.Fatal(err)
			}
			if after := r.fs.Dump(""); after != before {
				t.Errorf("uninstall left the machine different from before install:\n%s", activationtest.LineDiff(before, after))
			}
		})
		t.Run(goos+"/keep-state", func(t *testing.T) {
			r := newInstallRig(t, goos)
			before := r.fs.Dump("")
			if _, err := r.in.Install(ctx, r.req); err != nil {
				t.Fatal(err)
			}
			kept := seedState(r)
			seedRuntime(r, false)
			if _, err := r.in.Uninstall(ctx, UninstallOptions{KeepState: true}); err != nil {
				t.Fatal(err)
			}
			// The service's log is kept with the logs in the state dir;
			// the socket folder is no state and goes.
			if p := ServiceLogPath(goos, r.svc.platform); p != "" {
				if b, err := r.fs.ReadFile(p); err != nil || string(b) != "dnspin: started\n" {
					t.Errorf("service log %s not kept: %q %v", p, b, err)
				}
			}
			if d := r.in.dir(r.in.Paths.Control); goos != "windows" {
				if _, err := r.fs.Stat(d); err == nil {
					t.Errorf("socket folder %s left by uninstall --keep-state", d)
				}
			}
			for _, p := range kept {
				if b, err := r.fs.ReadFile(p); err != nil || !strings.HasPrefix(string(b), "state ") {
					t.Errorf("%s not kept: %q %v", p, b, err)
				}
			}
			if b, _ := r.fs.ReadFile(r.in.Paths.Config); string(b) != string(r.req.Config) {
				t.Errorf("installed config not kept: %q", b)
			}
			// The manifest stays, naming only what was kept, so a reinstall
			// keeps the true originals and a later uninstall removes it all.
			m, err := r.in.ReadManifest()
			if err != nil || m == nil {
				t.Fatalf("manifest after --keep-state: %v %v", m, err)
			}
			for _, rec := range m.Records {
				if rec.Kind != stepDir && rec.Kind != stepServiceLog && !(rec.Kind == stepFile && rec.Key == r.in.Paths.Config) {
					t.Errorf("manifest after --keep-state still lists %s %s", rec.Kind, rec.Key)
				}
			}
			for _, p := range []string{r.in.join(r.in.Paths.StateDir, activation.JournalFile), r.in.join(r.in.Paths.BinDir, r.in.exeName("dnspin"))} {
				if _, err := r.fs.Stat(p); err == nil {
					t.Errorf("%s left behind by uninstall --keep-state", p)
				}
			}
			if r.svc.installed {
				t.Error("service still registered")
			}
			// A later install and a full uninstall leave nothing.
			if _, err := r.in.Install(ctx, r.req); err != nil {
				t.Fatal(err)
			}
			if _, err := r.in.Uninstall(ctx, UninstallOptions{}); err != nil {
				t.Fatal(err)
			}
			if after := r.fs.Dump(""); after != before {
				t.Errorf("reinstall then uninstall left:\n%s", activationtest.LineDiff(before, after))
			}
		})
	}
}

// leakyConfigurator's Restore claims success but leaves the journal.
type leakyConfigurator struct{ recConfigurator }

func (leakyConfigurator) Restore(ctx context.Context) error { return nil }

// The state dir is never removed while it holds the activation journal,
// nor when its name does not say dnspin (a wrong path must not delete
// someone else's files).
func TestUninstallStateGuards(t *testing.T) {
	ctx := context.Background()
	r := newInstallRig(t, "linux")
	r.in.NewConfigurator = func(ctx context.Context, o activation.Options) (activation.Configurator, error) {
		return leakyConfigurator{recConfigurator{r.tr, o}}, nil
	}
	if _, err := r.in.Install(ctx, r.req); err != nil {
		t.Fatal(err)
	}
	learned := seedState(r)[0]
	if _, err := r.in.Uninstall(ctx, UninstallOptions{}); err == nil || !strings.Contains(err.Error(), "dnspin deactivate") {
		t.Fatalf("uninstall with the journal still there: %v", err)
	}
	if _, err := r.fs.Stat("/var/lib/dnspin/" + activation.JournalFile); err != nil {
		t.Fatal("the journal was removed")
	}
	if _, err := r.fs.Stat(learned); err != nil {
		t.Fatal("state removed although the journal was still there")
	}

	r = newInstallRig(t, "linux")
	r.in.Paths.StateDir = "/var/lib/state"
	if _, err := r.in.Install(ctx, r.req); err != nil {
		t.Fatal(err)
	}
	r.fs.SeedFile("/var/lib/state/someone-elses", "x", 0o600)
	steps, err := r.in.Uninstall(ctx, UninstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.fs.Stat("/var/lib/state/someone-elses"); err != nil {
		t.Errorf("a state dir not named dnspin was emptied: %v", steps)
	}
}

// A config that was there before install comes back even when it was
// empty: its recorded content is no content, not "nothing recorded".
func TestUninstallPutsBackEmptyConfig(t *testing.T) {
	ctx := context.Background()
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			r := newInstallRig(t, goos)
			r.fs.Mkdirs(r.in.dir(r.in.Paths.Config), 0o755)
			r.fs.SeedFile(r.in.Paths.Config, "", 0o640)
			before := r.fs.Dump("")
			if _, err := r.in.Install(ctx, r.req); err != nil {
				t.Fatal(err)
			}
			if _, err := r.in.Uninstall(ctx, UninstallOptions{}); err != nil {
				t.Fatal(err)
			}
			if after := r.fs.Dump(""); after != before {
				t.Errorf("uninstall did not put back the empty config:\n%s", activationtest.LineDiff(before, after))
			}
		})
	}
}

// With the MSI as the owner of the service (PackagedService), install
// neither removes nor registers it and sets no recovery actions: it starts
// it once the config is in place, and uninstall leaves the registration to
// the MSI as well.
func TestInstallPackagedService(t *testing.T) {
	ctx := context.Background()
	r := newInstallRig(t, "windows")
	r.svc.installed = true // ServiceInstall of the MSI
	beforeReg := r.reg.Dump()
	req := r.req
	req.PackagedService = true
	r.tr.Section("install")
	steps, err := r.in.Install(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	stepLines(r.tr, steps)
	r.tr.Section("uninstall")
	steps, err = r.in.Uninstall(ctx, UninstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stepLines(r.tr, steps)
	tr := r.transcript()
	for _, bad := range []string{"service install", "service uninstall", "run sc "} {
		if strings.Contains(tr, bad) {
			t.Errorf("packaged service: transcript has %q:\n%s", bad, tr)
		}
	}
	if !strings.Contains(tr, "service start") || !strings.Contains(tr, "=> started: dnspin (registered by the package)") {
		t.Errorf("packaged service was not started:\n%s", tr)
	}
	if !strings.Contains(tr, "=> activated: scoped") || !strings.Contains(tr, "=> restored: DNS settings") {
		t.Errorf("packaged service: no activation and restore:\n%s", tr)
	}
	if !r.svc.installed {
		t.Error("uninstall removed the service the MSI owns")
	}
	if r.reg.Dump() != beforeReg {
		t.Errorf("registry after uninstall differs:\n%s", activationtest.LineDiff(beforeReg, r.reg.Dump()))
	}
}

// A running service (StartServices of a repair, or a second install) is
// fine for a packaged install; any other start failure is not.
func TestInstallPackagedServiceStart(t *testing.T) {
	for _, tc := range []struct {
		err     error
		wantErr bool
	}{
		{fmt.Errorf("%w: Errno 1056", ErrServiceRunning), false},
		{errors.New("the service did not respond"), true},
	} {
		r := newInstallRig(t, "windows")
		r.svc.installed = true
		req := r.req
		req.PackagedService = true
		r.in.NewService = (&startErr{fakeService: r.svc, err: tc.err}).factory
		_, err := r.in.Install(context.Background(), req)
		if (err != nil) != tc.wantErr {
			t.Errorf("start error %v: install error %v, want error: %v", tc.err, err, tc.wantErr)
		}
	}
}

type startErr struct {
	*fakeService
	err error
}

func (f *startErr) factory(spec ServiceSpec) (ServiceManager, error) { return f, nil }
func (f *startErr) Start() error                                     { return f.err }

// Wine's sc.exe (and older Windows) lack `sc failureflag`: install goes on
// and says so; `sc failure` failing is still fatal.
func TestInstallWithoutFailureflag(t *testing.T) {
	for _, tc := range []struct {
		failing string
		wantErr bool
	}{
		{"sc failureflag dnspin 1", false},
		{"sc failure dnspin reset= 86400 actions= restart/1000/restart/5000/restart/30000", true},
	} {
		r := newInstallRig(t, "windows")
		run := activationtest.NewScriptRunner(r.tr)
		run.On(tc.failing, func() (string, error) { return "[SC] unknown command", errors.New("exit status 1") })
		r.in.Run = run.Run
		steps, err := r.in.Install(context.Background(), r.req)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%s failing: install error %v, want error: %v", tc.failing, err, tc.wantErr)
		}
		if tc.wantErr {
			continue
		}
		noted := false
		for _, s := range steps {
			noted = noted || (s.What == "recovery" && strings.Contains(s.Detail, "failureflag not available"))
		}
		if !noted {
			t.Errorf("install does not say failureflag failed: %+v", steps)
		}
		if !r.svc.installed {
			t.Error("service not registered")
		}
	}
}

// stepSaid reports whether steps hold what/detail.
func stepSaid(steps []Step, what, detail string) bool {
	for _, s := range steps {
		if s.What == what && s.Detail == detail {
			return true
		}
	}
	return false
}

// What the service makes at run time goes with uninstall only when dnspin
// made it: a socket folder or service log that was there before install
// stays (with what else is in it), a folder another program put a file in
// stays, and uninstall says which and why.
func TestUninstallRuntimeLeftovers(t *testing.T) {
	ctx := context.Background()
	for _, goos := range []string{"linux", "darwin"} {
		sockDir := map[string]string{"linux": "/run/dnspin", "darwin": "/var/run/dnspin"}[goos]
		logPath := map[string]string{"linux": "/var/log/dnspin.err", "darwin": "/Library/Logs/dnspin.err.log"}[goos]

		t.Run(goos+"/folder-with-another-file-before-install", func(t *testing.T) {
			r := newInstallRig(t, goos)
			r.fs.SeedFile(sockDir+"/other.pid", "4242\n", 0o644)
			before := r.fs.Dump("")
			if _, err := r.in.Install(ctx, r.req); err != nil {
				t.Fatal(err)
			}
			seedRuntime(r, true) // a crash left the socket in it
			steps, err := r.in.Uninstall(ctx, UninstallOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if after := r.fs.Dump(""); after != before {
				t.Errorf("uninstall left the machine different from before install:\n%s", activationtest.LineDiff(before, after))
			}
			if !stepSaid(steps, "dir", "kept "+sockDir+" (it was there before install)") {
				t.Errorf("uninstall does not say why it kept %s: %+v", sockDir, steps)
			}
		})

		t.Run(goos+"/empty-folder-and-log-before-install", func(t *testing.T) {
			r := newInstallRig(t, goos)
			r.fs.Mkdirs(sockDir, 0o700)
			r.fs.SeedFile(logPath, "an older log\n", 0o640)
			before := r.fs.Dump("")
			if _, err := r.in.Install(ctx, r.req); err != nil {
				t.Fatal(err)
			}
			steps, err := r.in.Uninstall(ctx, UninstallOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if after := r.fs.Dump(""); after != before {
				t.Errorf("uninstall removed what was there before install:\n%s", activationtest.LineDiff(before, after))
			}
			if !stepSaid(steps, "file", "kept "+logPath+" (it was there before install)") {
				t.Errorf("uninstall does not say why it kept %s: %+v", logPath, steps)
			}
		})

		t.Run(goos+"/another-file-after-install", func(t *testing.T) {
			r := newInstallRig(t, goos)
			if _, err := r.in.Install(ctx, r.req); err != nil {
				t.Fatal(err)
			}
			seedRuntime(r, false)
			r.fs.SeedFile(sockDir+"/someone-elses.sock", "", fs.ModeSocket|0o666)
			steps, err := r.in.Uninstall(ctx, UninstallOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.fs.Stat(sockDir + "/someone-elses.sock"); err != nil {
				t.Errorf("another program's socket was removed: %v", steps)
			}
			if !stepSaid(steps, "dir", "kept "+sockDir+" (not empty: it holds files dnspin did not create)") {
				t.Errorf("uninstall does not say why it kept %s: %+v", sockDir, steps)
			}
			if _, err := r.fs.Stat(logPath); err == nil {
				t.Errorf("%s left behind", logPath)
			}
		})

		// An install over one whose manifest predates these records (the
		// service ran and made them): they are that service's, and go.
		t.Run(goos+"/upgrade-from-older-manifest", func(t *testing.T) {
			r := newInstallRig(t, goos)
			before := r.fs.Dump("")
			if _, err := r.in.Install(ctx, r.req); err != nil {
				t.Fatal(err)
			}
			m, err := r.in.ReadManifest()
			if err != nil {
				t.Fatal(err)
			}
			m.Records = slices.DeleteFunc(m.Records, func(rec activation.Record) bool {
				return rec.Kind == stepServiceLog || rec.Kind == stepRuntimeDir
			})
			if err := r.in.writeManifest(m); err != nil {
				t.Fatal(err)
			}
			seedRuntime(r, false)
			if _, err := r.in.Install(ctx, r.req); err != nil {
				t.Fatal(err)
			}
			if _, err := r.in.Uninstall(ctx, UninstallOptions{}); err != nil {
				t.Fatal(err)
			}
			if after := r.fs.Dump(""); after != before {
				t.Errorf("leftovers after upgrading an older install:\n%s", activationtest.LineDiff(before, after))
			}
		})

		t.Run(goos+"/no-manifest", func(t *testing.T) {
			r := newInstallRig(t, goos)
			before := r.fs.Dump("")
			if _, err := r.in.Install(ctx, r.req); err != nil {
				t.Fatal(err)
			}
			seedRuntime(r, true)
			if err := r.fs.Remove(r.in.manifestPath()); err != nil {
				t.Fatal(err)
			}
			if _, err := r.in.Uninstall(ctx, UninstallOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{logPath, sockDir} {
				if _, err := r.fs.Stat(p); err == nil {
					t.Errorf("%s left behind without a manifest:\n%s", p, activationtest.LineDiff(before, r.fs.Dump("")))
				}
			}
		})
	}

	// systemd sends the service's stderr to the journal: no log to record.
	r := newInstallRig(t, "linux")
	r.svc.platform = "linux-systemd"
	if _, err := r.in.Install(ctx, r.req); err != nil {
		t.Fatal(err)
	}
	m, err := r.in.ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range m.Records {
		if rec.Kind == stepServiceLog {
			t.Errorf("systemd install records a service log: %+v", rec)
		}
	}
	if !m.has(stepRuntimeDir, "/run/dnspin") {
		t.Errorf("systemd install does not record the socket folder: %+v", m.Records)
	}
}

type failUninstall struct{ *fakeService }

func (f *failUninstall) Uninstall() error { return errors.New("launchctl: operation not permitted") }

// While the service stays registered (its removal failed) it may run and
// make its log and socket folder again: uninstall keeps them and their
// records, and the next uninstall, once the service goes, removes them.
func TestUninstallKeepsRuntimeWhileServiceRegistered(t *testing.T) {
	ctx := context.Background()
	r := newInstallRig(t, "darwin")
	before := r.fs.Dump("")
	if _, err := r.in.Install(ctx, r.req); err != nil {
		t.Fatal(err)
	}
	made := seedRuntime(r, false)
	r.in.NewService = func(ServiceSpec) (ServiceManager, error) { return &failUninstall{r.svc}, nil }
	steps, err := r.in.Uninstall(ctx, UninstallOptions{})
	if err == nil {
		t.Fatalf("uninstall with a failing service removal succeeded: %v", steps)
	}
	for _, p := range made {
		if _, err := r.fs.Stat(p); err != nil {
			t.Errorf("%s removed while the service is still registered", p)
		}
	}
	if !stepSaid(steps, "file", "kept /Library/Logs/dnspin.err.log for now (the service is still registered)") {
		t.Errorf("uninstall does not say why it kept the log: %+v", steps)
	}
	r.in.NewService = r.svc.factory
	if _, err := r.in.Uninstall(ctx, UninstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if after := r.fs.Dump(""); after != before {
		t.Errorf("second uninstall left:\n%s", activationtest.LineDiff(before, after))
	}
}
