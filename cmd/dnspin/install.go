package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/dnspin/dnspin/installer"
	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/daemon"
	"github.com/dnspin/dnspin/internal/paths"
)

var cmdInstall = command{
	name:    "install",
	args:    "[--config FILE] [--silent] [--bundle-url URL]... [--bundle-key ed25519:KEY] [--platform-domains a,b] [--packaged-service]",
	summary: "install the service, tray autostart and activation (admin)",
	run: func(ctx context.Context, e *env, args []string) error {
		return runInstall(ctx, e, args, systemInstaller())
	},
}

// systemInstaller is the Installer for this machine.
func systemInstaller() *installer.Installer {
	return &installer.Installer{GOOS: runtime.GOOS, Paths: paths.Default(), Registry: activation.SystemRegistry()}
}

// runInstall is install with its Installer given, so tests run it against a
// temp root.
func runInstall(ctx context.Context, e *env, args []string, in *installer.Installer) error {
	fs, cfgPath := flagSet(e)
	silent := fs.Bool("silent", false, "no questions; print one JSON line at the end (for MDM, GPO, scripts)")
	var urls multiFlag
	fs.Var(&urls, "bundle-url", "set [bundle] urls in the installed config (repeat for mirrors)")
	key := fs.String("bundle-key", "", "set [bundle] public_key in the installed config (ed25519:BASE64)")
	domains := fs.String("platform-domains", "", "set [platform] domains in the installed config (comma-separated); with no config anywhere, a config with defaults is made")
	packaged := fs.Bool("packaged-service", false, "the service is registered by a package (the MSI does this): leave its registration alone, only start it")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	finish := func(steps []installer.Step, err error) error { return report(e, "install", *silent, steps, err) }
	if err := e.admin("install"); err != nil {
		return finish(nil, err) // before the question: the answer would not matter
	}

	src, srcName, err := installSource(in, *cfgPath, *domains != "")
	if err != nil {
		return finish(nil, err)
	}
	src = setKeys(src, "bundle", bundleKeys(urls, *key))
	if *domains != "" {
		src = setKeys(src, "platform", []tomlKey{{"domains", tomlStrings(splitList(*domains))}})
	}
	cfg, err := config.Parse(srcName, src)
	if err != nil {
		return finish(nil, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return finish(nil, err)
	}
	ext := ""
	if in.GOOS == "windows" {
		ext = ".exe"
	}
	bins := map[string]string{"dnspin" + ext: exe}
	if tray := filepath.Join(filepath.Dir(exe), "dnspin-tray"+ext); fileExists(tray) {
		bins["dnspin-tray"+ext] = tray
	}
	plan := daemon.Plan(cfg)
	if !*silent {
		svcLine := fmt.Sprintf("register and start the service %q (restarted if it stops)", installer.ServiceName)
		if *packaged {
			svcLine = fmt.Sprintf("start the service %q the package registered", installer.ServiceName)
		}
		fmt.Fprintf(e.stdout, "dnspin will:\n  - install the config %s as %s (only administrators may change it)\n  - copy %d program file(s) to %s\n  - %s\n  - start the tray for every user who logs in\n  - point the system's DNS at dnspin (%s)\nContinue? [y/N] ",
			srcName, in.Paths.Config, len(bins), in.Paths.BinDir, svcLine, plan.Mode)
		if !confirmed(e) {
			return errors.New("cancelled; nothing was changed")
		}
	}
	steps, err := in.Install(ctx, installer.InstallRequest{Config: src, Binaries: bins, Plan: plan, PackagedService: *packaged})
	return finish(steps, err)
}

// installSource is the config to install: --config, else the one already
// installed (an upgrade keeps it), else, when the command line names the
// platform's domains, the defaults.
func installSource(in *installer.Installer, flagPath string, fromFlags bool) ([]byte, string, error) {
	if flagPath != "" {
		b, err := os.ReadFile(flagPath)
		if err != nil {
			return nil, flagPath, fmt.Errorf("config %s: %w: pass --config with the path of your dnspin.toml", flagPath, err)
		}
		return b, flagPath, nil
	}
	fsys := in.FS
	if fsys == nil {
		fsys = activation.OSFS{}
	}
	b, err := fsys.ReadFile(in.Paths.Config)
	if err != nil && fromFlags {
		return []byte("# Made by dnspin install from its command line; every key not set here has its default.\n"), "(command line)", nil
	}
	if err != nil {
		return nil, in.Paths.Config, fmt.Errorf("no config to install: pass --config FILE (nothing is installed at %s yet)", in.Paths.Config)
	}
	return b, in.Paths.Config, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func confirmed(e *env) bool {
	l, _ := bufio.NewReader(e.stdin).ReadString('\n')
	l = strings.ToLower(strings.TrimSpace(l))
	return l == "y" || l == "yes" || l == "j" || l == "ja" || l == "o" || l == "oui"
}

// report prints what was done. Silent mode ends with one JSON line for
// scripts: {"command":"install","ok":true,"steps":[...]} or with "error".
// Every error is one line: what failed, what to do; an install that did
// nothing does not send anyone to uninstall.
func report(e *env, cmd string, silent bool, steps []installer.Step, err error) error {
	if errors.Is(err, os.ErrPermission) && !errors.Is(err, installer.ErrNotAdmin) {
		err = fmt.Errorf("%w: %s", err, installer.AdminHint(cmd))
	}
	if err != nil && cmd == "install" && len(steps) > 0 {
		err = fmt.Errorf("%w; `dnspin uninstall` takes back the %d step(s) done so far", err, len(steps))
	}
	if !silent {
		for _, s := range steps {
			fmt.Fprintf(e.stdout, "%-10s %s\n", s.What, s.Detail)
		}
		if err == nil {
			fmt.Fprintf(e.stdout, "dnspin %s: done\n", cmd)
		}
		return err
	}
	out := struct {
		Command string           `json:"command"`
		OK      bool             `json:"ok"`
		Steps   []installer.Step `json:"steps"`
		Error   string           `json:"error,omitempty"`
	}{cmd, err == nil, steps, ""}
	if out.Steps == nil {
		out.Steps = []installer.Step{}
	}
	if err != nil {
		out.Error = oneLine(err.Error())
	}
	b, _ := json.Marshal(out)
	fmt.Fprintln(e.stdout, string(b))
	return err
}

// tomlKey is one `key = value` line for setKeys; value is TOML already.
type tomlKey struct{ key, value string }

// setKeys sets keys in [table] of a TOML document, replacing earlier values
// (also multi-line arrays) and keeping everything else, comments too. A
// missing table is appended.
func setKeys(src []byte, table string, keys []tomlKey) []byte {
	if len(keys) == 0 {
		return src
	}
	lines := strings.Split(strings.TrimRight(string(src), "\n"), "\n")
	if len(src) == 0 {
		lines = nil
	}
	replace := map[string]bool{}
	var set []string
	for _, k := range keys {
		replace[k.key] = true
		set = append(set, k.key+" = "+k.value)
	}
	var out []string
	inTable, found, depth := false, false, 0
	skipping := false
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if skipping { // inside a multi-line array being replaced
			depth += strings.Count(t, "[") - strings.Count(t, "]")
			if depth <= 0 {
				skipping = false
			}
			continue
		}
		hdr := strings.TrimSpace(strings.SplitN(t, "#", 2)[0])
		if strings.HasPrefix(hdr, "[") && strings.HasSuffix(hdr, "]") && !strings.Contains(hdr, "=") {
			inTable = hdr == "["+table+"]"
			out = append(out, l)
			if inTable {
				found = true
				out = append(out, set...)
			}
			continue
		}
		if inTable {
			k, v, _ := strings.Cut(t, "=")
			if replace[strings.TrimSpace(k)] {
				depth = strings.Count(v, "[") - strings.Count(v, "]")
				skipping = depth > 0
				continue
			}
		}
		out = append(out, l)
	}
	if !found {
		if len(out) > 0 {
			out = append(out, "")
		}
		out = append(out, "["+table+"]")
		out = append(out, set...)
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

// tomlStrings is a TOML array of strings.
func tomlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// bundleKeys are the [bundle] keys that --bundle-url and --bundle-key set.
func bundleKeys(urls []string, key string) []tomlKey {
	var k []tomlKey
	if len(urls) > 0 {
		k = append(k, tomlKey{"urls", tomlStrings(urls)})
	}
	if key != "" {
		k = append(k, tomlKey{"public_key", strconv.Quote(key)})
	}
	return k
}

// splitList splits "a, b,c" into its non-empty parts.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
