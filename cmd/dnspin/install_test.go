package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/dnspin/dnspin/installer"
	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/paths"
)

type testService struct{ log *[]string }

func (s testService) Install() error   { *s.log = append(*s.log, "install"); return nil }
func (s testService) Uninstall() error { *s.log = append(*s.log, "uninstall"); return nil }
func (s testService) Start() error     { *s.log = append(*s.log, "start"); return nil }
func (s testService) Stop() error      { *s.log = append(*s.log, "stop"); return nil }
func (s testService) Platform() string { return "test" }

type testConfigurator struct{ o activation.Options }

func (c testConfigurator) Apply(ctx context.Context, p activation.Plan) error {
	return activation.WriteJournal(c.o.FS, c.o.StateDir, &activation.Journal{Active: true, Plan: p})
}
func (c testConfigurator) Restore(ctx context.Context) error {
	return activation.RemoveJournal(c.o.FS, c.o.StateDir)
}
func (c testConfigurator) Current(ctx context.Context) (activation.Snapshot, error) {
	return activation.Snapshot{}, nil
}

// tempInstaller installs below root; only the service and DNS are fakes.
func tempInstaller(t *testing.T, root string, svcLog *[]string, plans *[]activation.Plan) *installer.Installer {
	for _, d := range []string{"etc", "usr/local/bin", "var/lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &installer.Installer{
		GOOS:  "linux",
		Paths: paths.Paths{Config: "/etc/dnspin/dnspin.toml", StateDir: "/var/lib/dnspin", Control: "/run/dnspin/dnspin.sock", BinDir: "/usr/local/bin"},
		FS:    activation.RootFS(root),
		Run: func(ctx context.Context, name string, args ...string) ([]byte, error) {
			t.Errorf("unexpected command %s %v", name, args)
			return nil, nil
		},
		NewService: func(spec installer.ServiceSpec) (installer.ServiceManager, error) {
			*svcLog = append(*svcLog, "new "+strings.Join(spec.Arguments(), " "))
			return testService{svcLog}, nil
		},
		NewConfigurator: func(ctx context.Context, o activation.Options) (activation.Configurator, error) {
			return testConfigurator{o}, nil
		},
	}
}

func tree(t *testing.T, root string) string {
	var lines []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		st, _ := d.Info()
		lines = append(lines, strings.TrimPrefix(p, root)+" "+st.Mode().String())
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func runWith(t *testing.T, stdin string, f func(*env) error) (string, string, error) {
	var out, errb bytes.Buffer
	// A temp root needs no rights (the admin check has its own test).
	e := &env{stdout: &out, stderr: &errb, stdin: strings.NewReader(stdin), requireAdmin: func(string) error { return nil }}
	for _, c := range commands() {
		if c.name == "install" || c.name == "uninstall" {
			e.cmd = c
		}
	}
	err := f(e)
	return out.String(), errb.String(), err
}

func TestInstallUninstallSilentTempRoot(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes")
	}
	ctx := context.Background()
	root := t.TempDir()
	var svcLog []string
	var plans []activation.Plan
	in := tempInstaller(t, root, &svcLog, &plans)
	before := tree(t, root)
	cfgFile := filepath.Join(t.TempDir(), "dnspin.toml")
	if err := os.WriteFile(cfgFile, []byte("# box office config\nactivation = \"full\"\n[platform]\nname = \"Example Tickets\"\ndomains = [\"tickets.example\"]\n[bundle]\nurls = [\n  \"https://old.example/pins.json\",\n]\nrefresh = \"30m\"\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	out, _, err := runWith(t, "", func(e *env) error {
		return runInstall(ctx, e, []string{"--silent", "--config", cfgFile, "--bundle-url", "https://pins.tickets.example/pins.json", "--bundle-url", "https://mirror.example/pins.json", "--bundle-key", "ed25519:AAAA"}, in)
	})
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	var res struct {
		Command string
		OK      bool
		Steps   []installer.Step
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &res); err != nil || !res.OK || res.Command != "install" || len(res.Steps) < 5 {
		t.Fatalf("silent install must end with one JSON line: %q (%v)", out, err)
	}
	installed := filepath.Join(root, "etc/dnspin/dnspin.toml")
	st, err := os.Stat(installed)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("installed config: %v %v (want mode 0644 although the source was 0666)", st, err)
	}
	if err := installer.CheckConfigPermissions(installed); os.Geteuid() == 0 && err != nil {
		t.Errorf("installed config refused by the start-up check: %v", err)
	}
	b, _ := os.ReadFile(installed)
	c, err := config.Parse(installed, b)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Bundle.URLs, " ") != "https://pins.tickets.example/pins.json https://mirror.example/pins.json" || c.Bundle.PublicKey != "ed25519:AAAA" || c.Bundle.Refresh.String() != "30m0s" || !strings.HasPrefix(string(b), "# box office config\n") {
		t.Errorf("bundle keys not replaced cleanly:\n%s", b)
	}
	if exe, _ := os.ReadFile(filepath.Join(root, "usr/local/bin/dnspin")); len(exe) == 0 {
		t.Error("dnspin binary not copied")
	}
	// An earlier registration (none here) is always removed first.
	if want := "new run --service --config /etc/dnspin/dnspin.toml,stop,uninstall,new run --service --config /etc/dnspin/dnspin.toml,install,start"; strings.Join(svcLog, ",") != want {
		t.Errorf("service calls %q, want %q", svcLog, want)
	}
	if j, _ := activation.ReadJournal(in.FS, in.Paths.StateDir); j == nil || j.Plan.Mode != "full" {
		t.Errorf("not activated with the config's mode: %+v", j)
	}

	// What a running service leaves: learned answers, a bundle, rotated
	// logs (a sub-directory too). The default uninstall removes all of it.
	for _, n := range []string{"learned.json", "bundle.json", "dnspin.log", "dnspin-2026-11-25T10-00-00.000.log", "cache/x"} {
		p := filepath.Join(root, "var/lib/dnspin", n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("state"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Break the config: uninstall must not care.
	os.WriteFile(installed, []byte("garbage [[["), 0o644)
	out, _, err = runWith(t, "", func(e *env) error { return runUninstall(ctx, e, []string{"--silent"}, in) })
	if err != nil || !strings.Contains(out, `"ok":true`) {
		t.Fatalf("uninstall: %v %q", err, out)
	}
	if after := tree(t, root); after != before {
		t.Errorf("uninstall left the tree different:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// uninstall --keep-state keeps the config and the state dir on a real
// file tree and removes the rest; a later plain uninstall removes those too.
func TestUninstallKeepState(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes")
	}
	ctx := context.Background()
	root := t.TempDir()
	var svcLog []string
	in := tempInstaller(t, root, &svcLog, nil)
	before := tree(t, root)
	cfgFile := filepath.Join(t.TempDir(), "dnspin.toml")
	os.WriteFile(cfgFile, []byte("[platform]\ndomains = [\"tickets.example\"]\n"), 0o644)
	if out, _, err := runWith(t, "", func(e *env) error { return runInstall(ctx, e, []string{"--silent", "--config", cfgFile}, in) }); err != nil {
		t.Fatalf("install: %v %s", err, out)
	}
	learned := filepath.Join(root, "var/lib/dnspin/learned.json")
	os.WriteFile(learned, []byte("answers"), 0o600)
	out, _, err := runWith(t, "", func(e *env) error { return runUninstall(ctx, e, []string{"--silent", "--keep-state"}, in) })
	if err != nil || !strings.Contains(out, `"ok":true`) {
		t.Fatalf("uninstall --keep-state: %v %q", err, out)
	}
	for _, p := range []string{learned, filepath.Join(root, "etc/dnspin/dnspin.toml")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("--keep-state removed %s", p)
		}
	}
	for _, p := range []string{"usr/local/bin/dnspin", "var/lib/dnspin/" + activation.JournalFile} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			t.Errorf("--keep-state left %s", p)
		}
	}
	if _, _, err := runWith(t, "", func(e *env) error { return runUninstall(ctx, e, []string{"--silent"}, in) }); err != nil {
		t.Fatal(err)
	}
	if after := tree(t, root); after != before {
		t.Errorf("uninstall after --keep-state left:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestInstallRefusesBadConfigAndAsks(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	var svcLog []string
	in := tempInstaller(t, root, &svcLog, nil)
	before := tree(t, root)
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("listen = [\"0.0.0.0:53\"]\n"), 0o644)
	out, _, err := runWith(t, "", func(e *env) error { return runInstall(ctx, e, []string{"--silent", "--config", bad}, in) })
	if err == nil || !strings.Contains(out, `"ok":false`) || !strings.Contains(out, "listen") {
		t.Errorf("bad config: %v %q", err, out)
	}
	good := filepath.Join(t.TempDir(), "good.toml")
	os.WriteFile(good, []byte("[platform]\ndomains = [\"tickets.example\"]\n"), 0o644)
	_, _, err = runWith(t, "n\n", func(e *env) error { return runInstall(ctx, e, []string{"--config", good}, in) })
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("answering no: %v", err)
	}
	_, _, err = runWith(t, "", func(e *env) error { return runInstall(ctx, e, nil, in) })
	if err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("no config anywhere: %v", err)
	}
	if after := tree(t, root); after != before || len(svcLog) != 0 {
		t.Errorf("refused installs changed something: %v\n%s", svcLog, after)
	}
}

func TestSetKeys(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"listen = [\"127.0.0.1:53\"]\n", "listen = [\"127.0.0.1:53\"]\n\n[bundle]\nurls = [\"https://a.example/p\"]\npublic_key = \"ed25519:K\"\n"},
		{"[bundle] # mirrors\nurls = [\"https://old\"]\npublic_key = \"ed25519:OLD\"\nrefresh = \"1h\"\n[log]\nmax_files = 2\n",
			"[bundle] # mirrors\nurls = [\"https://a.example/p\"]\npublic_key = \"ed25519:K\"\nrefresh = \"1h\"\n[log]\nmax_files = 2\n"},
		{"[bundle]\nurls = [\n \"https://x\",\n \"https://y\",\n]\n[[pin]]\nname = \"a\"\n",
			"[bundle]\nurls = [\"https://a.example/p\"]\npublic_key = \"ed25519:K\"\n[[pin]]\nname = \"a\"\n"},
	} {
		got := setKeys([]byte(tc.in), "bundle", bundleKeys([]string{"https://a.example/p"}, "ed25519:K"))
		if string(got) != tc.want {
			t.Errorf("setKeys(%q) =\n%q, want\n%q", tc.in, got, tc.want)
		}
	}
	// [platform] domains from --platform-domains, into an empty file and
	// over an earlier list; the result is a valid config.
	for _, in := range []string{"", "[platform]\nname = \"T\"\ndomains = [\"old.example\"]\n"} {
		got := setKeys([]byte(in), "platform", []tomlKey{{"domains", tomlStrings(splitList(" tickets.example, cdn.example ,"))}})
		c, err := config.Parse("x.toml", got)
		if err != nil || strings.Join(c.Platform.Domains, " ") != "tickets.example cdn.example" {
			t.Errorf("setKeys(%q) = %q: %v %v", in, got, c, err)
		}
	}
}

// A silent install from the command line alone (the MSI's PLATFORM_DOMAINS
// with BUNDLE_URL/BUNDLE_KEY, no CONFIG): the installed config has those
// keys and defaults for the rest.
func TestInstallFromCommandLineOnly(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	var svcLog []string
	in := tempInstaller(t, root, &svcLog, nil)
	out, _, err := runWith(t, "", func(e *env) error {
		return runInstall(ctx, e, []string{"--silent", "--platform-domains", "tickets.example,cdn-tickets.example",
			"--bundle-url", "https://pins.example.net/pins.json", "--bundle-key", "ed25519:AAAA"}, in)
	})
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(root, "etc/dnspin/dnspin.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse("installed", b)
	if err != nil {
		t.Fatalf("installed config does not parse: %v\n%s", err, b)
	}
	if strings.Join(c.Platform.Domains, " ") != "tickets.example cdn-tickets.example" || c.Bundle.PublicKey != "ed25519:AAAA" || c.Activation != "scoped" {
		t.Errorf("installed config:\n%s", b)
	}
}
