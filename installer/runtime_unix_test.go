//go:build !windows

package installer

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/installer/activation/activationtest"
)

// The service's run-time files on a real file system below a temp root
// (macOS and SysV layouts): a real stale socket is told from a file by its
// mode, a real non-empty folder refuses to go, and what was there before
// install is left as found.
func TestUninstallRuntimeRealFiles(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ goos, platform string }{{"darwin", "darwin-launchd"}, {"linux", "unix-systemv"}} {
		for _, before := range []bool{false, true} {
			name := tc.goos + "/new-folder"
			if before {
				name = tc.goos + "/folder-there-before"
			}
			t.Run(name, func(t *testing.T) {
				root := t.TempDir()
				in, svc := realRootInstaller(t, root, tc.goos, tc.platform)
				sockDir := filepath.Dir(in.Paths.Control)
				other := filepath.Join(sockDir, "other.pid")
				if before {
					writeRooted(t, root, other, "4242\n")
				}
				snapshot := rootTree(t, root)
				if _, err := in.Install(ctx, scopedRequest(t)); err != nil {
					t.Fatal(err)
				}
				// What the running service makes; then it crashes, leaving
				// its socket.
				logPath := ServiceLogPath(tc.goos, tc.platform)
				writeRooted(t, root, logPath, "dnspin: started\n")
				if err := os.MkdirAll(filepath.Join(root, sockDir), 0o755); err != nil {
					t.Fatal(err)
				}
				staleSocket(t, filepath.Join(root, in.Paths.Control))
				steps, err := in.Uninstall(ctx, UninstallOptions{})
				if err != nil {
					t.Fatalf("uninstall: %v (%v)", err, steps)
				}
				if after := rootTree(t, root); after != snapshot {
					t.Errorf("uninstall left the temp root different from before install:\n%s", activationtest.LineDiff(snapshot, after))
				}
				if svc.installed {
					t.Error("service still registered")
				}
				if before {
					if b, err := os.ReadFile(filepath.Join(root, other)); err != nil || string(b) != "4242\n" {
						t.Errorf("%s changed: %q %v", other, b, err)
					}
				}
			})
		}
	}

	// A folder dnspin made that another program put a file into stays.
	root := t.TempDir()
	in, _ := realRootInstaller(t, root, "darwin", "darwin-launchd")
	if _, err := in.Install(ctx, scopedRequest(t)); err != nil {
		t.Fatal(err)
	}
	other := writeRooted(t, root, "/var/run/dnspin/someone-elses", "x")
	steps, err := in.Uninstall(ctx, UninstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another program's file in the socket folder was removed: %v", steps)
	}
	if !stepSaid(steps, "dir", "kept /var/run/dnspin (not empty: it holds files dnspin did not create)") {
		t.Errorf("uninstall does not say why it kept /var/run/dnspin: %+v", steps)
	}
}

func realRootInstaller(t *testing.T, root, goos, platform string) (*Installer, *fakeService) {
	t.Helper()
	for _, d := range []string{"/etc", "/usr/local/bin", "/var/lib", "/var/log", "/run", "/var/run", "/Library/Application Support", "/Library/Logs"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tr := &activationtest.Transcript{}
	svc := &fakeService{tr: tr, platform: platform}
	return &Installer{
		GOOS:       goos,
		Paths:      pathsFor(goos),
		FS:         activation.RootFS(root),
		Run:        activationtest.NewScriptRunner(tr).Run,
		NewService: svc.factory,
		NewConfigurator: func(ctx context.Context, o activation.Options) (activation.Configurator, error) {
			return recConfigurator{tr, o}, nil
		},
	}, svc
}

// writeRooted writes content to name below root (parents made) and returns
// the real path.
func writeRooted(t *testing.T, root, name, content string) string {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// rootTree lists every path below root with its mode and content.
func rootTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		data := ""
		if fi.Mode().IsRegular() {
			c, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			data = string(c)
		}
		b.WriteString(strings.TrimPrefix(p, root) + " " + fi.Mode().String() + " " + data + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// staleSocket leaves a real socket at p that nobody listens on, as a
// service killed with SIGKILL does.
func staleSocket(t *testing.T, p string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(p); err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("no stale socket at %s: %v", p, err)
	}
}

// scopedRequest installs a minimal config and binary, activation scoped.
func scopedRequest(t *testing.T) InstallRequest {
	t.Helper()
	return InstallRequest{
		Config:   []byte("[platform]\ndomains = [\"tickets.example\"]\n"),
		Binaries: map[string]string{"dnspin": writeRooted(t, t.TempDir(), "/dnspin", "binary")},
		Plan:     activation.Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}},
	}
}
