// Package installer registers dnspin with the operating system: the
// service, tray autostart and the install manifest, with an exact undo by
// uninstall. The system DNS settings are installer/activation's, which
// install and uninstall call; where the files go is internal/paths. It
// knows nothing about DNS packets; every OS difference lives in this
// package's per-OS files, behind small interfaces, so callers never switch
// on GOOS.
package installer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dnspin/dnspin/installer/activation"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dnspin/dnspin/internal/paths"
)

// ManifestFile is the install manifest's name in the state directory: every
// step `dnspin install` took, so `dnspin uninstall` can reverse each one,
// also when the service is gone or the config is broken.
const ManifestFile = "install-manifest.json"

// Manifest kinds (Record.Kind), in the order install takes the steps.
const (
	stepDir       = "dir"       // a directory install created (Existed false)
	stepFile      = "file"      // config, binary or autostart file; Data = previous content for the config
	stepRunValue  = "run-value" // Windows Run key value for the tray
	stepService   = "service"   // registered; Meta["platform"]
	stepStarted   = "service-started"
	stepRecovery  = "recovery" // Windows recovery actions (removed with the service)
	stepActivated = "activation"
	// What the service creates at run time, recorded before its first
	// start (Existed: there before install, so uninstall keeps it).
	stepServiceLog = "service-log" // the service manager's stderr log (SysV, launchd)
	stepRuntimeDir = "runtime-dir" // the control socket's folder
)

// Manifest is what install did.
type Manifest struct {
	Version int                 `json:"version"`
	Created time.Time           `json:"created"`
	GOOS    string              `json:"goos"`
	Paths   paths.Paths         `json:"paths"`
	Records []activation.Record `json:"records"`
}

// has reports whether the manifest records the step kind on key.
func (m *Manifest) has(kind, key string) bool {
	_, ok := activation.FindRecord(m.Records, kind, key)
	return ok
}

// metaContent in a file record's Meta says Data holds the file's previous
// content, to be put back on uninstall (the config), rather than nothing
// (a binary, which is removed).
const metaContent = "content"

func savedContent(r activation.Record) bool {
	return r.Existed && (r.Data != nil || r.Meta[metaContent] == "saved")
}

// Installer installs and uninstalls dnspin through seams, so the whole
// sequence runs against an in-memory or temp-root filesystem in tests.
type Installer struct {
	GOOS     string              // whose steps to take: "linux", "windows", "darwin"
	Paths    paths.Paths         // where things go (paths.Default on a real machine)
	FS       activation.FS       // nil: the real filesystem
	Run      activation.Runner   // nil: real commands
	Registry activation.Registry // Windows only (Run key); nil elsewhere
	// NewService makes the service manager; nil: NewKardianosService.
	NewService ServiceFactory
	// NewConfigurator makes the DNS configurator; nil: NewConfigurator.
	NewConfigurator func(ctx context.Context, o activation.Options) (activation.Configurator, error)
	// ReadSource reads the binaries to copy; nil: os.ReadFile.
	ReadSource func(string) ([]byte, error)
	Logger     *slog.Logger
	Now        func() time.Time
}

// InstallRequest is one `dnspin install`.
type InstallRequest struct {
	Config   []byte            // the config to install, already validated
	Binaries map[string]string // installed name ("dnspin", "dnspin-tray", with .exe on Windows) -> source path
	Plan     activation.Plan   // what to activate
	// PackagedService says a package (the MSI) registers the service and
	// owns its registration, recovery settings and removal: install leaves
	// them alone and only starts the service before activating.
	PackagedService bool
}

// Step is one line of install's or uninstall's account of what it did.
type Step struct {
	What   string `json:"what"`
	Detail string `json:"detail"`
}

func (in *Installer) defaults() *Installer {
	c := *in
	if c.FS == nil {
		c.FS = activation.OSFS{}
	}
	if c.Run == nil {
		c.Run = activation.ExecRunner
	}
	if c.NewService == nil {
		c.NewService = NewKardianosService(c.FS)
	}
	if c.NewConfigurator == nil {
		c.NewConfigurator = activation.NewConfigurator
	}
	if c.ReadSource == nil {
		c.ReadSource = os.ReadFile
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &c
}

// join builds a path in the installer's OS style.
func (in *Installer) join(elem ...string) string {
	if in.GOOS == "windows" {
		return strings.Join(elem, `\`)
	}
	return path.Join(elem...)
}

// under reports whether p lies below the directory d.
func (in *Installer) under(p, d string) bool {
	sep := "/"
	if in.GOOS == "windows" {
		sep = `\`
	}
	return strings.HasPrefix(p, strings.TrimSuffix(d, sep)+sep)
}

func (in *Installer) dir(p string) string {
	if in.GOOS == "windows" {
		if i := strings.LastIndexByte(p, '\\'); i > 0 {
			return p[:i]
		}
	}
	return path.Dir(filepath.ToSlash(p))
}

func (in *Installer) manifestPath() string { return in.join(in.Paths.StateDir, ManifestFile) }

// ReadManifest loads the manifest; nil, nil when there is none.
func (in *Installer) ReadManifest() (*Manifest, error) {
	in = in.defaults()
	b, err := in.FS.ReadFile(in.manifestPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("install manifest %s: %w", in.manifestPath(), err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("install manifest %s is damaged (%v): delete it and run `dnspin uninstall` again, which then removes the default locations", in.manifestPath(), err)
	}
	return &m, nil
}

func (in *Installer) writeManifest(m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := in.FS.WriteFileAtomic(in.manifestPath(), b, 0o600); err != nil {
		return fmt.Errorf("install manifest %s: %w", in.manifestPath(), err)
	}
	return nil
}

// Install takes every step and records each in the manifest right after it
// is done, so an install cut short is still reversed by Uninstall. A second
// install over the first keeps the first one's records of what was there.
func (in *Installer) Install(ctx context.Context, req InstallRequest) ([]Step, error) {
	in = in.defaults()
	var steps []Step
	say := func(what, detail string) { steps = append(steps, Step{what, detail}) }

	m, err := in.ReadManifest()
	if err != nil {
		return steps, err
	}
	// After an earlier install whose manifest names our service, the
	// service's run-time files are that service's, not someone else's.
	serviceBefore := m != nil && m.has(stepService, ServiceName)
	if m == nil {
		m = &Manifest{Version: 1, Created: in.Now().UTC(), GOOS: in.GOOS, Paths: in.Paths}
	}
	add := func(r activation.Record) error {
		if !m.has(r.Kind, r.Key) {
			m.Records = append(m.Records, r)
		}
		return in.writeManifest(m)
	}
	// The state dir holds the manifest, so it comes first.
	for _, d := range []string{in.Paths.StateDir, in.dir(in.Paths.Config), in.Paths.BinDir} {
		if err := in.mkdir(d, add); err != nil {
			return steps, err
		}
	}
	if in.GOOS == "windows" {
		// Only Administrators and SYSTEM may change the config and state;
		// users may read (the tray and `dnspin status` need the config).
		for _, d := range uniqStrings(in.Paths.StateDir, in.dir(in.Paths.Config)) {
			if out, err := in.Run(ctx, "icacls", d, "/inheritance:r", "/grant:r", "*S-1-5-32-544:(OI)(CI)F", "*S-1-5-18:(OI)(CI)F", "*S-1-5-32-545:(OI)(CI)RX"); err != nil {
				return steps, fmt.Errorf("icacls %s: %w: %s", d, err, strings.TrimSpace(string(out)))
			}
		}
	}

	// Config: admin-owned, world-readable, never world-writable.
	if err := in.putFile(in.Paths.Config, req.Config, 0o644, true, add); err != nil {
		return steps, err
	}
	say("config", in.Paths.Config)

	// A service registered earlier by dnspin install (an upgrade) is
	// stopped and unregistered first, whether or not the manifest knows it:
	// its binary can then be replaced (Windows locks a running executable)
	// and the registration below is ours. One the package registered stays.
	var svc ServiceManager
	if !req.PackagedService {
		old, err := in.NewService(in.installedSpec())
		if err != nil {
			return steps, fmt.Errorf("service: %w", err)
		}
		_ = old.Stop()
		if err := old.Uninstall(); err != nil && !errors.Is(err, ErrServiceNotInstalled) {
			return steps, fmt.Errorf("service: removing the earlier registration: %w", err)
		}
	}

	// Binaries.
	installed := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(req.Binaries)) {
		dst := in.join(in.Paths.BinDir, name)
		installed[name] = dst
		if filepath.Clean(req.Binaries[name]) == filepath.Clean(dst) {
			continue // running the installed binary: nothing to copy
		}
		b, err := in.ReadSource(req.Binaries[name])
		if err != nil {
			return steps, fmt.Errorf("binary %s: %w", req.Binaries[name], err)
		}
		if err := in.putFile(dst, b, 0o755, false, add); err != nil {
			return steps, err
		}
		say("binary", dst)
	}
	exe := installed[in.exeName("dnspin")]
	if exe == "" {
		return steps, errors.New("install: no dnspin binary given")
	}

	// Service: registered, restart on failure, started.
	spec := ServiceSpec{Executable: exe, ConfigPath: in.Paths.Config}
	svc, err = in.NewService(spec)
	if err != nil {
		return steps, fmt.Errorf("service: %w", err)
	}
	if req.PackagedService {
		// Registered (and removed again) by the package; the config is in
		// place now, so it can start. A running one keeps running.
		if err := svc.Start(); err != nil && !errors.Is(err, ErrServiceRunning) {
			return steps, fmt.Errorf("service: start the %s service the package registered: %w", ServiceName, err)
		}
		say("started", ServiceName+" (registered by the package)")
	} else {
		if err := in.recordRuntime(svc, serviceBefore, add); err != nil {
			return steps, err
		}
		if err := in.registerService(ctx, svc, add, say); err != nil {
			return steps, err
		}
		if err := svc.Start(); err != nil {
			return steps, fmt.Errorf("service: start: %w", err)
		}
		if err := add(activation.Record{Kind: stepStarted, Key: ServiceName}); err != nil {
			return steps, err
		}
		say("started", ServiceName)
	}

	// Tray autostart for every user.
	if tray, ok := installed[in.exeName("dnspin-tray")]; ok {
		a := TrayAutostartFor(in.GOOS, tray)
		if a.RunKey != "" {
			if in.Registry == nil {
				return steps, errors.New("install: no registry for the tray's Run key")
			}
			where := activation.HKLM(RunKey) + `\` + a.RunKey
			prev, existed, err := in.Registry.GetValue(RunKey, a.RunKey)
			if err != nil {
				return steps, fmt.Errorf("tray autostart %s: %w", where, err)
			}
			pb, _ := json.Marshal(prev)
			r := activation.Record{Kind: stepRunValue, Key: a.RunKey, Existed: existed}
			if existed {
				r.Data = pb
			}
			if !m.has(stepRunValue, a.RunKey) { // keep an earlier install's record of what was there
				if err := add(r); err != nil {
					return steps, err
				}
			}
			if err := in.Registry.SetValue(RunKey, a.RunKey, activation.SZ(a.Content)); err != nil {
				return steps, fmt.Errorf("tray autostart %s: %w", where, err)
			}
			say("autostart", where)
		} else {
			if err := in.mkdir(in.dir(a.Path), add); err != nil {
				return steps, err
			}
			if err := in.putFile(a.Path, []byte(a.Content), fs.FileMode(a.Mode), false, add); err != nil {
				return steps, err
			}
			say("autostart", a.Path)
		}
	}

	// Activation last: dnspin is running and answering by now.
	cf, err := in.configurator(ctx)
	if err != nil {
		return steps, fmt.Errorf("activation: %w", err)
	}
	if err := add(activation.Record{Kind: stepActivated, Key: req.Plan.Mode}); err != nil {
		return steps, err
	}
	if err := cf.Apply(ctx, req.Plan); err != nil {
		return steps, fmt.Errorf("activation: %w", err)
	}
	say("activated", req.Plan.Mode)
	return steps, nil
}

// recordRuntime records what the service will create once it runs: its
// stderr log (SysV, launchd) and the control socket's folder. Recorded
// before the service is registered, so uninstall removes them only after
// the service is gone (a running SysV supervisor would reopen its log).
// Something already there was not made by this service, unless an earlier
// install's service (serviceBefore) made it: uninstall then keeps it.
// Windows has neither: a named pipe, and the event log.
func (in *Installer) recordRuntime(svc ServiceManager, serviceBefore bool, add func(activation.Record) error) error {
	if in.GOOS == "windows" {
		return nil
	}
	var rs []activation.Record
	if p := ServiceLogPath(in.GOOS, svc.Platform()); p != "" {
		rs = append(rs, activation.Record{Kind: stepServiceLog, Key: p})
	}
	if in.Paths.Control != "" {
		rs = append(rs, activation.Record{Kind: stepRuntimeDir, Key: in.dir(in.Paths.Control)})
	}
	for _, r := range rs {
		if _, err := in.FS.Lstat(r.Key); err == nil {
			r.Existed = !serviceBefore
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", r.Key, err)
		}
		if err := add(r); err != nil {
			return err
		}
	}
	return nil
}

// registerService registers the service and, on Windows, its recovery
// actions, recording each step.
func (in *Installer) registerService(ctx context.Context, svc ServiceManager, add func(activation.Record) error, say func(what, detail string)) error {
	if err := svc.Install(); err != nil {
		return fmt.Errorf("service: %w (if an old dnspin service is registered, run `dnspin uninstall` first)", err)
	}
	if err := add(activation.Record{Kind: stepService, Key: ServiceName, Meta: map[string]string{"platform": svc.Platform()}}); err != nil {
		return err
	}
	say("service", ServiceName+" ("+svc.Platform()+")")
	if in.GOOS != "windows" {
		return nil
	}
	// Restart after 1 s, 5 s, then every 30 s; the failure count resets
	// after a day.
	args := []string{"failure", ServiceName, "reset=", "86400", "actions=", "restart/1000/restart/5000/restart/30000"}
	if out, err := in.Run(ctx, "sc", args...); err != nil {
		return fmt.Errorf("sc %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	// failureflag also counts a stop with a non-zero exit code as a
	// failure. Only a refinement (a crash restarts the service without it),
	// and Wine's sc.exe lacks the command: a note, not a failed install.
	flagOut, flagErr := in.Run(ctx, "sc", "failureflag", ServiceName, "1")
	if err := add(activation.Record{Kind: stepRecovery, Key: ServiceName}); err != nil {
		return err
	}
	say("recovery", "restart on failure")
	if flagErr != nil {
		in.Logger.Warn("sc failureflag failed; the service is restarted after a crash, not after an exit with an error", "err", flagErr, "output", strings.TrimSpace(string(flagOut)))
		say("recovery", "sc failureflag not available: restart after a crash only")
	}
	return nil
}

// configurator makes the DNS configurator on the installer's seams.
func (in *Installer) configurator(ctx context.Context) (activation.Configurator, error) {
	return in.NewConfigurator(ctx, activation.Options{FS: in.FS, Run: in.Run, StateDir: in.Paths.StateDir, Logger: in.Logger, Now: in.Now})
}

// installedSpec is the service as install registers it: what an earlier
// install's service (to replace) and uninstall's (to remove) look like.
func (in *Installer) installedSpec() ServiceSpec {
	return ServiceSpec{Executable: in.join(in.Paths.BinDir, in.exeName("dnspin")), ConfigPath: in.Paths.Config}
}

func (in *Installer) exeName(n string) string {
	if in.GOOS == "windows" {
		return n + ".exe"
	}
	return n
}

func uniqStrings(ss ...string) []string {
	var out []string
	for _, s := range ss {
		dup := false
		for _, o := range out {
			dup = dup || o == s
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}

// mkdir creates d and its missing parents, recording each one it created.
func (in *Installer) mkdir(d string, add func(activation.Record) error) error {
	var missing []string
	for p := d; p != "" && p != "/" && p != "." && !strings.HasSuffix(p, ":") && !strings.HasSuffix(p, `:\`); p = in.dir(p) {
		if _, err := in.FS.Stat(p); err == nil {
			break
		}
		missing = append([]string{p}, missing...)
		if in.dir(p) == p {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := in.FS.MkdirAll(d, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", d, err)
	}
	for _, p := range missing {
		if err := add(activation.Record{Kind: stepDir, Key: p}); err != nil {
			return err
		}
	}
	return nil
}

// putFile records what was at name (keeping its bytes when keep is set),
// then writes data.
func (in *Installer) putFile(name string, data []byte, perm fs.FileMode, keep bool, add func(activation.Record) error) error {
	r := activation.Record{Kind: stepFile, Key: name}
	if st, err := in.FS.Stat(name); err == nil {
		r.Existed, r.Mode = true, st.Mode().Perm()
		if keep {
			if r.Data, err = in.FS.ReadFile(name); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			// JSON drops empty Data: say that it is the content, so an
			// empty file comes back empty instead of being removed.
			r.Meta = map[string]string{metaContent: "saved"}
		}
	}
	if err := add(r); err != nil {
		return err
	}
	if err := in.FS.WriteFileAtomic(name, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// UninstallOptions are the choices of one `dnspin uninstall`.
type UninstallOptions struct {
	// KeepState keeps the installed config and the state directory
	// (learned answers, bundle, logs) for a later install; by default
	// everything dnspin created is removed.
	KeepState bool
}

// Uninstall reverses every step in the manifest in reverse order, after
// putting the DNS settings back. It never reads the config, and a service
// that is already gone is fine. It goes on after a failure and reports all
// of them; the manifest then keeps what is left to undo. Unless o.KeepState,
// the state directory goes too, once everything else is undone.
func (in *Installer) Uninstall(ctx context.Context, o UninstallOptions) ([]Step, error) {
	in = in.defaults()
	var steps []Step
	say := func(what, detail string) { steps = append(steps, Step{what, detail}) }
	m, err := in.ReadManifest()
	if err != nil {
		return steps, err
	}
	if m == nil {
		m = in.guessManifest()
		say("manifest", "none found; removing the default locations")
	}
	cf, cerr := in.configurator(ctx)
	restore := func() error {
		if cerr != nil {
			return cerr
		}
		return cf.Restore(ctx)
	}
	var errs []error
	// left marks records still to undo: failed steps, and with KeepState
	// what is kept, so a later install keeps the true originals and a
	// later uninstall still removes them.
	left := make([]bool, len(m.Records))
	// DNS first, so the OS stops sending queries to dnspin before it stops.
	if err := restore(); err != nil {
		errs = append(errs, fmt.Errorf("restoring DNS settings: %w", err))
	} else {
		say("restored", "DNS settings")
	}
	svc, serr := in.NewService(in.installedSpec())
	var atRunTime []int // records of what the service made while it ran
	serviceLeft := false
	for i := len(m.Records) - 1; i >= 0; i-- {
		r := m.Records[i]
		var err error
		switch r.Kind {
		case stepActivated:
			// Restored before this loop, and once more after it.
		case stepStarted:
			if serr != nil {
				err = serr
			} else if e := svc.Stop(); e == nil {
				say("stopped", ServiceName)
			}
		case stepRecovery:
			// Removed with the service.
		case stepService:
			if serr != nil {
				err, serviceLeft = serr, true
				break
			}
			err = svc.Uninstall()
			if errors.Is(err, ErrServiceNotInstalled) {
				err = nil
				say("service", "already gone")
			} else if err == nil {
				say("service", "removed")
			}
			serviceLeft = err != nil
		case stepRunValue:
			if in.Registry == nil {
				err = errors.New("no registry to remove the tray's Run value from")
				break
			}
			if r.Existed {
				var v activation.RegValue
				if err = json.Unmarshal(r.Data, &v); err == nil {
					err = in.Registry.SetValue(RunKey, r.Key, v)
				}
			} else {
				err = in.Registry.DeleteValue(RunKey, r.Key)
			}
			if err == nil {
				say("autostart", "removed "+activation.HKLM(RunKey)+`\`+r.Key)
			}
		case stepServiceLog, stepRuntimeDir:
			// After the loop, once the service is stopped and removed
			// (an upgrade from an older manifest records them last).
			atRunTime = append(atRunTime, i)
		case stepFile:
			switch {
			case o.KeepState && r.Key == in.Paths.Config:
				say("file", "kept "+r.Key)
				left[i] = true
			case savedContent(r):
				err = in.FS.WriteFileAtomic(r.Key, r.Data, r.Mode)
				if err == nil {
					say("file", "put back "+r.Key)
				}
			default:
				err = in.FS.Remove(r.Key)
				if errors.Is(err, fs.ErrNotExist) {
					err = nil
				}
				if err == nil {
					say("file", "removed "+r.Key)
				}
			}
		case stepDir:
			if r.Key == in.Paths.StateDir {
				// The manifest lives here: last, below. Kept in a manifest
				// written back (--keep-state, or a step failed), so a later
				// uninstall still knows install created it.
				left[i] = true
				continue
			}
			if e := in.FS.Remove(r.Key); e == nil || errors.Is(e, fs.ErrNotExist) {
				say("dir", "removed "+r.Key)
			} else {
				say("dir", "kept "+r.Key+" (not empty)")
				left[i] = o.KeepState
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.Kind, r.Key, err))
			left[i] = true
		}
	}
	for _, i := range atRunTime {
		r := m.Records[i]
		var err error
		if serviceLeft {
			// A service still registered may run and make them again:
			// the next uninstall removes them, after the service.
			what := "file"
			if r.Kind == stepRuntimeDir {
				what = "dir"
			}
			say(what, "kept "+r.Key+" for now (the service is still registered)")
			left[i] = true
			continue
		}
		if r.Kind == stepServiceLog {
			err = in.removeServiceLog(r, o, say)
			left[i] = o.KeepState
		} else {
			err = in.removeRuntimeDir(r, say)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.Kind, r.Key, err))
			left[i] = true
		}
	}
	// Once more now that the service is stopped, in case it re-applied
	// while stopping; without a journal this does nothing.
	if err := restore(); err != nil {
		errs = append(errs, fmt.Errorf("restoring DNS settings: %w", err))
	}
	var rest []activation.Record
	for i, r := range m.Records {
		if left[i] {
			rest = append(rest, r)
		}
	}
	if len(errs) > 0 || (o.KeepState && len(rest) > 0) {
		m.Records = rest
		if werr := in.writeManifest(m); werr != nil {
			errs = append(errs, werr)
		}
		if len(errs) == 0 {
			say("dir", "kept "+in.Paths.StateDir+" (--keep-state: config, learned answers, bundle, logs)")
		}
		return steps, errors.Join(errs...)
	}
	if err := in.FS.Remove(in.manifestPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return steps, err
	}
	if !o.KeepState {
		return steps, in.removeState(m, say)
	}
	return steps, nil
}

// removeServiceLog removes the service's stderr log unless it was there
// before install or KeepState keeps the logs.
func (in *Installer) removeServiceLog(r activation.Record, o UninstallOptions, say func(what, detail string)) error {
	if _, err := in.FS.Lstat(r.Key); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	switch {
	case o.KeepState:
		say("file", "kept "+r.Key+" (--keep-state keeps the logs)")
		return nil
	case r.Existed:
		say("file", "kept "+r.Key+" (it was there before install)")
		return nil
	}
	if err := in.FS.Remove(r.Key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	say("file", "removed "+r.Key)
	return nil
}

// removeRuntimeDir removes the control socket's folder once the service is
// gone: first a socket the service left at the control path (a crash),
// then the folder if it is empty and was not there before install.
func (in *Installer) removeRuntimeDir(r activation.Record, say func(what, detail string)) error {
	if in.Paths.Control != "" && in.dir(in.Paths.Control) == r.Key {
		if st, err := in.FS.Lstat(in.Paths.Control); err == nil && st.Mode()&fs.ModeSocket != 0 {
			if err := in.FS.Remove(in.Paths.Control); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			say("file", "removed "+in.Paths.Control+" (the control socket)")
		}
	}
	if _, err := in.FS.Lstat(r.Key); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if r.Existed {
		say("dir", "kept "+r.Key+" (it was there before install)")
		return nil
	}
	if err := in.FS.Remove(r.Key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		say("dir", "kept "+r.Key+" (not empty: it holds files dnspin did not create)")
		return nil
	}
	say("dir", "removed "+r.Key)
	return nil
}

// removeState removes the state directory and all in it (learned answers,
// bundle, logs). A directory that was there before install is left empty
// with its mode, and files install found there (a config on macOS and
// Windows, where it lives in the state dir) are put back. It refuses while
// an activation journal is there, the only record of the DNS settings to
// restore, and for a directory whose name does not say dnspin, so a wrong
// path can never make it delete someone else's files.
func (in *Installer) removeState(m *Manifest, say func(what, detail string)) error {
	d := in.Paths.StateDir
	st, err := in.FS.Stat(d)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state dir %s: %w", d, err)
	}
	if base := d[len(in.dir(d)):]; !strings.Contains(strings.ToLower(base), "dnspin") {
		say("dir", "kept "+d+" (its name does not say dnspin; delete it by hand)")
		return nil
	}
	if _, err := in.FS.Stat(in.join(d, activation.JournalFile)); err == nil {
		return fmt.Errorf("state dir %s still holds %s, the record of the DNS settings to restore: run `dnspin deactivate`, then `dnspin uninstall` again", d, activation.JournalFile)
	}
	if err := in.FS.RemoveAll(d); err != nil {
		return fmt.Errorf("remove %s: %w; delete it by hand", d, err)
	}
	say("dir", "removed "+d+" (learned answers, bundle, logs)")
	if m.has(stepDir, d) {
		return nil
	}
	// The directory was there before install: leave it as found.
	if err := in.FS.MkdirAll(d, st.Mode().Perm()); err != nil {
		return fmt.Errorf("recreate %s: %w", d, err)
	}
	if err := in.FS.Chmod(d, st.Mode().Perm()); err != nil {
		return fmt.Errorf("recreate %s: %w", d, err)
	}
	for _, r := range m.Records {
		if r.Kind != stepFile || !savedContent(r) || !in.under(r.Key, d) {
			continue
		}
		if err := in.FS.MkdirAll(in.dir(r.Key), 0o755); err != nil {
			return fmt.Errorf("put back %s: %w", r.Key, err)
		}
		if err := in.FS.WriteFileAtomic(r.Key, r.Data, r.Mode); err != nil {
			return fmt.Errorf("put back %s: %w", r.Key, err)
		}
		say("file", "put back "+r.Key)
	}
	return nil
}

// guessManifest is used when the manifest is gone: everything at the default
// locations is taken as ours.
func (in *Installer) guessManifest() *Manifest {
	m := &Manifest{GOOS: in.GOOS, Paths: in.Paths}
	for _, d := range uniqStrings(in.Paths.StateDir, in.dir(in.Paths.Config)) {
		m.Records = append(m.Records, activation.Record{Kind: stepDir, Key: d})
	}
	m.Records = append(m.Records,
		activation.Record{Kind: stepFile, Key: in.Paths.Config},
		activation.Record{Kind: stepFile, Key: in.join(in.Paths.BinDir, in.exeName("dnspin"))},
		activation.Record{Kind: stepFile, Key: in.join(in.Paths.BinDir, in.exeName("dnspin-tray"))},
		activation.Record{Kind: stepService, Key: ServiceName},
		activation.Record{Kind: stepStarted, Key: ServiceName},
	)
	a := TrayAutostartFor(in.GOOS, "")
	if a.RunKey != "" {
		m.Records = append(m.Records, activation.Record{Kind: stepRunValue, Key: a.RunKey})
	} else {
		m.Records = append(m.Records, activation.Record{Kind: stepFile, Key: a.Path})
	}
	// What the service made at run time: the stderr log of either Linux
	// service manager's kind (only SysV writes one) and the control
	// socket's folder, when its name says dnspin.
	switch in.GOOS {
	case "linux":
		m.Records = append(m.Records, activation.Record{Kind: stepServiceLog, Key: ServiceLogPath(in.GOOS, "unix-systemv")})
	case "darwin":
		m.Records = append(m.Records, activation.Record{Kind: stepServiceLog, Key: ServiceLogPath(in.GOOS, "")})
	}
	if d := in.dir(in.Paths.Control); in.GOOS != "windows" && in.Paths.Control != "" && strings.Contains(strings.ToLower(path.Base(d)), "dnspin") {
		m.Records = append(m.Records, activation.Record{Kind: stepRuntimeDir, Key: d})
	}
	m.Records = append(m.Records, activation.Record{Kind: stepActivated})
	return m
}
