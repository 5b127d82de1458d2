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
	"github.com/dnspin/dnspin/internal/config"
)

var cmdInstall = command{
	name:    "install",
	args:    "[--config FILE] [--silent] [--bundle-url URL]... [--bundle-key ed25519:KEY]",
	summary: "install the service, tray autostart and activation (admin)",
	run: func(ctx context.Context, e *env, args []string) error {
		return runInstall(ctx, e, args, systemInstaller())
	},
}

// systemInstaller is the Installer for this machine.
func systemInstaller() *installer.Installer {
	return &installer.Installer{GOOS: runtime.GOOS, Paths: installer.DefaultPaths()}
}

// runInstall is install with its Installer given, so tests run it against a
// temp root.
func runInstall(ctx context.Context, e *env, args []string, in *installer.Installer) error {
	fs, cfgPath := flagSet(e)
	silent := fs.Bool("silent", false, "no questions; print one JSON line at the end (for MDM, GPO, scripts)")
	var urls multiFlag
	fs.Var(&urls, "bundle-url", "set [bundle] urls in the installed config (repeat for mirrors)")
	key := fs.String("bundle-key", "", "set [bundle] public_key in the installed config (ed25519:BASE64)")
	if pos, err := parseArgs(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	finish := func(steps []installer.Step, err error) error { return report(e, "install", *silent, steps, err) }

	src, srcName, err := installSource(in, *cfgPath)
	if err != nil {
		return finish(nil, err)
	}
	if len(urls) > 0 || *key != "" {
		if src, err = setBundleKeys(src, urls, *key); err != nil {
			return finish(nil, err)
		}
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
	plan := installer.Plan{Mode: cfg.Activation, Domains: cfg.Platform.Domains, Resolver: cfg.Listen}
	if !*silent {
		fmt.Fprintf(e.stdout, "dnspin will:\n  - install the config %s as %s (only administrators may change it)\n  - copy %d program file(s) to %s\n  - register and start the service %q (restarted if it stops)\n  - start the tray for every user who logs in\n  - point the system's DNS at dnspin (%s)\nContinue? [y/N] ",
			srcName, in.Paths.Config, len(bins), in.Paths.BinDir, installer.ServiceName, plan.Mode)
		if !confirmed(e) {
			return errors.New("cancelled; nothing was changed")
		}
	}
	steps, err := in.Install(ctx, installer.InstallRequest{Config: src, Binaries: bins, Plan: plan})
	if err != nil {
		err = fmt.Errorf("%w\n`dnspin uninstall` takes back what was done so far", err)
	}
	return finish(steps, err)
}

// installSource is the config to install: --config, else the one already
// installed (an upgrade keeps it).
func installSource(in *installer.Installer, flagPath string) ([]byte, string, error) {
	if flagPath != "" {
		b, err := os.ReadFile(flagPath)
		if err != nil {
			return nil, flagPath, fmt.Errorf("config %s: %w: pass --config with the path of your dnspin.toml", flagPath, err)
		}
		return b, flagPath, nil
	}
	fsys := in.FS
	if fsys == nil {
		fsys = installer.OSFS{}
	}
	b, err := fsys.ReadFile(in.Paths.Config)
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
func report(e *env, cmd string, silent bool, steps []installer.Step, err error) error {
	if errors.Is(err, os.ErrPermission) {
		err = fmt.Errorf("%w\nrun it as root (sudo dnspin %s ...) or, on Windows, from an administrator prompt", err, cmd)
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
		out.Error = err.Error()
	}
	b, _ := json.Marshal(out)
	fmt.Fprintln(e.stdout, string(b))
	return err
}

// setBundleKeys sets [bundle] urls and public_key in a TOML document,
// replacing earlier values and keeping everything else (comments too).
func setBundleKeys(src []byte, urls []string, key string) ([]byte, error) {
	lines := strings.Split(strings.TrimRight(string(src), "\n"), "\n")
	var out []string
	inBundle, found, depth := false, false, 0
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
			inBundle = hdr == "[bundle]"
			out = append(out, l)
			if inBundle {
				found = true
				out = append(out, bundleLines(urls, key)...)
			}
			continue
		}
		if inBundle {
			k := strings.TrimSpace(strings.SplitN(t, "=", 2)[0])
			if (k == "urls" && len(urls) > 0) || (k == "public_key" && key != "") {
				if k == "urls" {
					v := strings.SplitN(t, "=", 2)[1]
					depth = strings.Count(v, "[") - strings.Count(v, "]")
					skipping = depth > 0
				}
				continue
			}
		}
		out = append(out, l)
	}
	if !found {
		out = append(out, "", "[bundle]")
		out = append(out, bundleLines(urls, key)...)
	}
	return []byte(strings.Join(out, "\n") + "\n"), nil
}

func bundleLines(urls []string, key string) []string {
	var l []string
	if len(urls) > 0 {
		q := make([]string, len(urls))
		for i, u := range urls {
			q[i] = strconv.Quote(u)
		}
		l = append(l, "urls = ["+strings.Join(q, ", ")+"]")
	}
	if key != "" {
		l = append(l, "public_key = "+strconv.Quote(key))
	}
	return l
}
