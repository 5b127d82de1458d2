package main

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestTrayLinksNoResolverOrInstaller: the tray only talks to the control
// API. Linking the resolver, the installer, activation, the service manager
// or a DNS library would put code in every desktop's tray process that it
// never runs (it did until internal/paths, internal/mode and internal/dnsname
// took what the tray's config reading and the control API need). Each
// package the tray needs from the rest of dnspin must stay free of them.
func TestTrayLinksNoResolverOrInstaller(t *testing.T) {
	forbidden := []string{
		"github.com/dnspin/dnspin/resolver",
		"github.com/dnspin/dnspin/installer",
		"github.com/dnspin/dnspin/installer/activation", // was inside installer until issue 13
		"github.com/kardianos/service",
		"github.com/miekg/dns",
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the tray's dependencies: %v", err)
	}
	for _, goos := range []string{"linux", "windows", "darwin"} {
		cmd := exec.Command(goTool, "list", "-deps", ".")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("GOOS=%s go list -deps: %v\n%s", goos, err, stderrOf(err))
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 || !slices.Contains(deps, "github.com/dnspin/dnspin/internal/control") {
			t.Fatalf("GOOS=%s go list -deps gave no plausible list: %q", goos, out)
		}
		for _, f := range forbidden {
			for _, d := range deps {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("GOOS=%s: dnspin-tray links %s: find the import that pulls it in with `go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./cmd/dnspin-tray`", goos, d)
				}
			}
		}
	}
}

func stderrOf(err error) string {
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return string(ee.Stderr)
	}
	return ""
}
