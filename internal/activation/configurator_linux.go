package activation

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Files the Linux backends read and write.
const (
	// ResolvConf is where Linux keeps its resolver configuration.
	ResolvConf = "/etc/resolv.conf"
	// ResolvedDropIn is dnspin's systemd-resolved drop-in.
	ResolvedDropIn = "/etc/systemd/resolved.conf.d/dnspin.conf"
	// ResolvedUplink lists the servers systemd-resolved itself uses.
	ResolvedUplink = "/run/systemd/resolve/resolv.conf"
	// ResolvconfHead is prepended by Debian's resolvconf to resolv.conf.
	ResolvconfHead = "/etc/resolvconf/resolv.conf.d/head"
	// ResolvconfTail is appended by Debian's resolvconf to resolv.conf,
	// after the options of the interfaces: dnspin's options go there.
	ResolvconfTail = "/etc/resolvconf/resolv.conf.d/tail"
	// OpenresolvConf is openresolv's configuration (a shell fragment).
	OpenresolvConf = "/etc/resolvconf.conf"
)

// linuxConfigurator implements Configurator and Reasserter on Linux. The
// backend is chosen at Apply by ChooseLinuxBackend and stored in the journal;
// everything after that (Reassert, Restore) follows the journal, so a
// restore never depends on guessing the machine's state again.
type linuxConfigurator struct {
	o  Options
	fs ExtFS
}

var (
	_ Configurator = (*linuxConfigurator)(nil)
	_ Reasserter   = (*linuxConfigurator)(nil)
	_ DryRunner    = (*linuxConfigurator)(nil)
)

func newConfigurator(ctx context.Context, o Options) (Configurator, error) {
	efs, ok := o.FS.(ExtFS)
	if !ok {
		return nil, fmt.Errorf("activation: the file system seam %T cannot keep symlinks and owners exact (it must implement activation.ExtFS)", o.FS)
	}
	if o.StateDir == "" {
		return nil, errors.New("activation: no state directory for the journal: set state_dir in the config")
	}
	return &linuxConfigurator{o: o, fs: efs}, nil
}

func currentResolvers(ctx context.Context, o Options) ([]string, error) {
	b, err := o.FS.ReadFile(ResolvConf)
	if err != nil {
		return nil, err
	}
	ns := ParseNameservers(b)
	if hasNameserver(b, "127.0.0.53") { // systemd-resolved's stub: ask what it uses
		if up, err := o.FS.ReadFile(ResolvedUplink); err == nil && len(ParseNameservers(up)) > 0 {
			return ParseNameservers(up), nil
		}
	}
	return ns, nil
}

// env takes the snapshot ChooseLinuxBackend decides on.
func (c *linuxConfigurator) env(ctx context.Context) LinuxEnv {
	var e LinuxEnv
	e.ResolvConf, _ = c.fs.ReadFile(ResolvConf)
	if fi, err := c.fs.Lstat(ResolvConf); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if t, err := c.fs.Readlink(ResolvConf); err == nil {
			e.ResolvConfLink = absLink(filepath.Dir(ResolvConf), t)
		}
	}
	// The probes are bounded: a wedged D-Bus must not hang activation.
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := c.o.Run(ctx, "resolvectl", "--no-pager", "status"); err == nil {
		e.ResolvedRunning = true
	}
	if out, err := c.o.Run(ctx, "nmcli", "-t", "-f", "RUNNING", "general"); err == nil && strings.TrimSpace(string(out)) == "running" {
		e.NetworkManagerRunning = true
	}
	if fi, err := c.fs.Stat(filepath.Dir(ResolvconfHead)); err == nil && fi.IsDir() {
		e.Resolvconf = "debian"
	} else if _, err := c.fs.Stat(OpenresolvConf); err == nil {
		e.Resolvconf = "openresolv"
	}
	return e
}

// files returns the files backend b changes.
func (c *linuxConfigurator) files(b Backend) []string {
	switch b {
	case BackendResolved:
		return []string{ResolvedDropIn}
	case BackendResolvconf:
		if fi, err := c.fs.Stat(filepath.Dir(ResolvconfHead)); err == nil && fi.IsDir() {
			return []string{ResolvconfHead, ResolvconfTail}
		}
		return []string{OpenresolvConf}
	default:
		return []string{ResolvConf}
	}
}

// record captures path exactly as it is now.
func (c *linuxConfigurator) record(path string) (Record, error) {
	r := Record{Kind: "file", Key: path}
	fi, err := c.fs.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		// Writing it creates its missing parent directories (e.g.
		// /etc/systemd/resolved.conf.d): restore removes them again.
		if dirs := c.missingDirs(filepath.Dir(path)); len(dirs) > 0 {
			r.Meta = map[string]string{"created_dirs": strings.Join(dirs, "\n")}
		}
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("reading %s before changing it: %w (nothing was changed)", path, err)
	}
	r.Existed = true
	r.Mode = fi.Mode()
	if uid, gid, err := c.fs.Owner(path); err == nil {
		r.Meta = map[string]string{"uid": strconv.Itoa(uid), "gid": strconv.Itoa(gid)}
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if r.Link, err = c.fs.Readlink(path); err != nil {
			return r, fmt.Errorf("reading the symlink %s: %w (nothing was changed)", path, err)
		}
		// The target's content is kept too: it is the configuration the
		// system used, and what Nameservers are taken from.
		r.Data, _ = c.fs.ReadFile(path)
		return r, nil
	}
	if r.Data, err = c.fs.ReadFile(path); err != nil {
		return r, fmt.Errorf("reading %s before changing it: %w (nothing was changed)", path, err)
	}
	return r, nil
}

// missingDirs lists dir and those of its parents that do not exist,
// deepest first: the order to remove them in.
func (c *linuxConfigurator) missingDirs(dir string) []string {
	var dirs []string
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := c.fs.Lstat(d); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		dirs = append(dirs, d)
	}
	return dirs
}

// originalNameservers are the servers the OS used before dnspin.
func (c *linuxConfigurator) originalNameservers(ctx context.Context, b Backend, j *Journal) []string {
	if b == BackendResolved {
		var ns []string
		if r, ok := j.Find("file", ResolvedDropIn); ok {
			ns = strings.Fields(r.Meta["global_dns"])
		}
		return dedupe(append(ns, c.resolvedLinkServers(ctx)...))
	}
	if b == BackendDirect || b == BackendNetworkManager {
		if r, ok := j.Find("file", ResolvConf); ok {
			return ParseNameservers(r.Data)
		}
	}
	cur, _ := c.fs.ReadFile(ResolvConf)
	return ParseNameservers(cur)
}

// resolvedLinkServers are the per-link servers systemd-resolved uses
// (`resolvectl dns`), or, if that fails, its uplink list without loopback
// addresses (dnspin's own and resolved's stub).
func (c *linuxConfigurator) resolvedLinkServers(ctx context.Context) []string {
	if out, err := c.o.Run(ctx, "resolvectl", "--no-pager", "dns"); err == nil {
		_, links := parseResolvectl(out)
		if len(links) > 0 {
			return links
		}
	}
	up, _ := c.fs.ReadFile(ResolvedUplink)
	var ns []string
	for _, n := range ParseNameservers(up) {
		if a, err := netip.ParseAddr(n); err == nil && !a.IsLoopback() {
			ns = append(ns, n)
		}
	}
	return ns
}

// parseResolvectl reads `resolvectl dns` or `resolvectl domain` output:
// "Global: a b" and "Link 2 (eth0): c d" lines. Server names after '#'
// (DNS over TLS) and zone indexes after '%' are dropped.
func parseResolvectl(out []byte) (global, links []string) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		head, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		head = strings.TrimSpace(head)
		var vals []string
		for _, f := range strings.Fields(rest) {
			f, _, _ = strings.Cut(f, "#")
			if i := strings.IndexByte(f, '%'); i >= 0 && strings.Contains(f, ":") {
				f = f[:i]
			}
			vals = append(vals, f)
		}
		switch {
		case head == "Global":
			global = append(global, vals...)
		case strings.HasPrefix(head, "Link "):
			links = append(links, vals...)
		}
	}
	return dedupe(global), dedupe(links)
}

func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// recordResolvedGlobals keeps the global servers and domains an
// administrator configured, which dnspin's drop-in replaces while active
// (it resets DNS= and Domains= so that dnspin comes first), so the drop-in
// can list them after dnspin's own.
func (c *linuxConfigurator) recordResolvedGlobals(ctx context.Context, r *Record) {
	if r.Meta == nil {
		r.Meta = map[string]string{}
	}
	if out, err := c.o.Run(ctx, "resolvectl", "--no-pager", "dns"); err == nil {
		g, _ := parseResolvectl(out)
		r.Meta["global_dns"] = strings.Join(g, " ")
	}
	if out, err := c.o.Run(ctx, "resolvectl", "--no-pager", "domain"); err == nil {
		g, _ := parseResolvectl(out)
		r.Meta["global_domains"] = strings.Join(g, " ")
	}
}

// recordResolvOptions keeps, for the files through which dnspin sets
// resolvconf's options, the options resolv.conf has now (generated by
// resolvconf from the interfaces, its base file and the tail), so dnspin's
// line keeps an administrator's stricter timeout or attempts.
func (c *linuxConfigurator) recordResolvOptions(r *Record) {
	if r.Key != ResolvconfTail && r.Key != OpenresolvConf {
		return
	}
	cur, _ := c.fs.ReadFile(ResolvConf)
	if r.Meta == nil {
		r.Meta = map[string]string{}
	}
	r.Meta["resolv_options"] = strings.Join(optionTokens(cur), " ")
}

// lock serialises Apply, Restore and Reassert across processes (the
// service's watcher and an administrator's `dnspin deactivate` run at the
// same time): without it the watcher could take a just-restored file for a
// rewrite behind dnspin's back and activate again.
func (c *linuxConfigurator) lock() (func(), error) {
	if err := c.fs.MkdirAll(c.o.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("activation: create state dir %s: %w", c.o.StateDir, err)
	}
	unlock, err := c.fs.Lock(filepath.Join(c.o.StateDir, LockFile))
	if err != nil {
		return nil, fmt.Errorf("activation: lock %s: %w", filepath.Join(c.o.StateDir, LockFile), err)
	}
	return unlock, nil
}

// Apply implements Configurator: journal first (fsynced), then the change.
func (c *linuxConfigurator) Apply(ctx context.Context, p Plan) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return c.apply(ctx, p)
}

func (c *linuxConfigurator) apply(ctx context.Context, p Plan) error {
	p = normalizePlan(p)
	if err := validatePlan(p); err != nil {
		return err
	}
	j, err := ReadJournal(c.fs, c.o.StateDir)
	if err != nil {
		return err
	}
	if j != nil && !j.Active {
		// A restore was interrupted: finish it before starting over.
		if err := c.restore(ctx); err != nil {
			return err
		}
		j = nil
	}
	if j == nil {
		b := ChooseLinuxBackend(c.env(ctx))
		j = &Journal{Created: c.o.Now().UTC(), Backend: string(b), Plan: p, Active: true}
		for _, f := range c.files(b) {
			r, err := c.record(f)
			if err != nil {
				return err
			}
			if f == ResolvedDropIn {
				c.recordResolvedGlobals(ctx, &r)
			}
			c.recordResolvOptions(&r)
			j.Records = append(j.Records, r)
		}
		j.Nameservers = c.originalNameservers(ctx, b, j)
		if _, err := c.desiredAll(j); err != nil {
			return err // e.g. no port-53 listen address: refuse before the journal exists
		}
		if err := WriteJournal(c.fs, c.o.StateDir, j); err != nil {
			return err
		}
		c.o.Logger.Info("activation: journal written", "backend", b, "mode", p.Mode, "journal", filepath.Join(c.o.StateDir, JournalFile))
		_, err = c.enforce(ctx, j)
		return err
	} else if !slices.Equal(j.Plan.Domains, p.Domains) || j.Plan.Mode != p.Mode || !slices.Equal(j.Plan.Resolver, p.Resolver) {
		j.Plan = p
		if _, err := c.desiredAll(j); err != nil {
			return err
		}
		if err := WriteJournal(c.fs, c.o.StateDir, j); err != nil {
			return err
		}
	}
	// Already active: a file replaced since (DHCP, NetworkManager) is
	// adopted as the new original rather than overwritten and lost.
	_, err = c.reassert(ctx)
	return err
}

// desiredAll returns the content dnspin wants in each journaled file.
func (c *linuxConfigurator) desiredAll(j *Journal) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, r := range j.Records {
		b, err := desired(j, r)
		if err != nil {
			return nil, err
		}
		out[r.Key] = b
	}
	return out, nil
}

// enforce writes every file that differs from what dnspin wants and runs
// the backend's reload when something changed.
func (c *linuxConfigurator) enforce(ctx context.Context, j *Journal) (bool, error) {
	want, err := c.desiredAll(j)
	if err != nil {
		return false, err
	}
	changed := false
	for _, r := range j.Records {
		w := want[r.Key]
		fi, lerr := c.fs.Lstat(r.Key)
		cur, _ := c.fs.ReadFile(r.Key)
		if lerr == nil && fi.Mode().IsRegular() && bytes.Equal(cur, w) {
			continue
		}
		perm := fs.FileMode(0o644)
		if r.Existed && r.Link == "" {
			perm = r.Mode.Perm()
		}
		if err := c.writeFile(r.Key, w, perm); err != nil {
			return changed, fmt.Errorf("activation: writing %s: %w (run `dnspin deactivate` to put back what was there)", r.Key, err)
		}
		if uid, gid, ok := recordOwner(r); ok && r.Link == "" {
			_ = c.fs.Lchown(r.Key, uid, gid)
		}
		changed = true
	}
	if changed {
		c.o.Logger.Info("activation: DNS settings written", "backend", j.Backend, "mode", j.Plan.Mode)
		if err := c.reload(ctx, Backend(j.Backend)); err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// writeFile replaces path durably; a bind-mounted file (rename gives EBUSY)
// is rewritten in place instead.
func (c *linuxConfigurator) writeFile(path string, data []byte, perm fs.FileMode) error {
	if err := c.fs.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	err := c.fs.WriteFileAtomic(path, data, perm)
	if err != nil && isBusy(err) {
		c.o.Logger.Info("activation: file cannot be replaced (bind mount?); writing it in place", "file", path)
		return c.fs.WriteFileInPlace(path, data, perm)
	}
	return err
}

func recordOwner(r Record) (int, int, bool) {
	u, err1 := strconv.Atoi(r.Meta["uid"])
	g, err2 := strconv.Atoi(r.Meta["gid"])
	return u, g, err1 == nil && err2 == nil && r.Meta["uid"] != ""
}

// reload tells the backend's daemon to read the changed files.
func (c *linuxConfigurator) reload(ctx context.Context, b Backend) error {
	var cmds [][]string
	switch b {
	case BackendResolved:
		cmds = [][]string{
			{"systemctl", "try-reload-or-restart", "systemd-resolved.service"},
			{"resolvectl", "flush-caches"},
		}
	case BackendResolvconf:
		cmds = [][]string{{"resolvconf", "-u"}}
	}
	for _, cmd := range cmds {
		if out, err := c.o.Run(ctx, cmd[0], cmd[1:]...); err != nil {
			return fmt.Errorf("activation: %s: %w: %s (check that %s is running, then run the command again)",
				strings.Join(cmd, " "), err, bytes.TrimSpace(out), b)
		}
	}
	return nil
}

// Restore implements Configurator.
func (c *linuxConfigurator) Restore(ctx context.Context) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return c.restore(ctx)
}

func (c *linuxConfigurator) restore(ctx context.Context) error {
	j, err := ReadJournal(c.fs, c.o.StateDir)
	if err != nil || j == nil {
		return err
	}
	if j.Active {
		// From here on a crash finishes the restore rather than re-applying.
		j.Active = false
		if err := WriteJournal(c.fs, c.o.StateDir, j); err != nil {
			return err
		}
	}
	var errs []error
	for i := len(j.Records) - 1; i >= 0; i-- {
		if err := c.restoreRecord(j.Records[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.reload(ctx, Backend(j.Backend)); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("restore incomplete, journal kept in %s (run `dnspin deactivate` again): %w", c.o.StateDir, errors.Join(errs...))
	}
	c.o.Logger.Info("activation: original DNS settings restored", "backend", j.Backend)
	return RemoveJournal(c.fs, c.o.StateDir)
}

// restoreRecord puts one file back exactly: content, mode, owner, or the
// symlink, or its absence. A file that no longer carries dnspin's marker
// was replaced by someone else after dnspin wrote it (DHCP, an admin): that
// newer file is the system's current configuration and is left alone.
func (c *linuxConfigurator) restoreRecord(r Record) error {
	fi, lerr := c.fs.Lstat(r.Key)
	if lerr == nil {
		cur, _ := c.fs.ReadFile(r.Key)
		if fi.Mode()&fs.ModeSymlink != 0 || !bytes.Contains(cur, []byte(Marker)) {
			if r.Link != "" && fi.Mode()&fs.ModeSymlink != 0 {
				if t, err := c.fs.Readlink(r.Key); err == nil && t == r.Link {
					return nil // never replaced: the symlink is still there
				}
			}
			if r.Existed && r.Link == "" && bytes.Equal(cur, r.Data) && fi.Mode().Perm() == r.Mode.Perm() {
				return nil // never changed
			}
			c.o.Logger.Warn("activation: file was replaced by someone else since dnspin wrote it; keeping the newer file", "file", r.Key)
			return nil
		}
	}
	switch {
	case !r.Existed:
		if err := c.fs.Remove(r.Key); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing %s: %w", r.Key, err)
		}
		// Directories dnspin created for the file go too, but only while
		// empty: anything someone else put there since stays.
		for _, d := range strings.Split(r.Meta["created_dirs"], "\n") {
			if d == "" {
				continue
			}
			if err := c.fs.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				c.o.Logger.Info("activation: keeping a directory dnspin created, it is not empty", "dir", d)
				break
			}
		}
		return nil
	case r.Link != "":
		tmp := r.Key + ".dnspin-restore"
		_ = c.fs.Remove(tmp)
		if err := c.fs.Symlink(r.Link, tmp); err != nil {
			return fmt.Errorf("restoring the symlink %s -> %s: %w", r.Key, r.Link, err)
		}
		if uid, gid, ok := recordOwner(r); ok {
			_ = c.fs.Lchown(tmp, uid, gid)
		}
		if err := c.fs.Rename(tmp, r.Key); err != nil {
			_ = c.fs.Remove(tmp)
			return fmt.Errorf("restoring the symlink %s -> %s: %w", r.Key, r.Link, err)
		}
		return nil
	default:
		if err := c.writeFile(r.Key, r.Data, r.Mode.Perm()); err != nil {
			return fmt.Errorf("restoring %s: %w", r.Key, err)
		}
		if err := c.fs.Chmod(r.Key, r.Mode.Perm()); err != nil { // umask- and in-place-proof
			return fmt.Errorf("restoring the mode of %s: %w", r.Key, err)
		}
		if uid, gid, ok := recordOwner(r); ok {
			if err := c.fs.Lchown(r.Key, uid, gid); err != nil {
				return fmt.Errorf("restoring the owner of %s: %w", r.Key, err)
			}
		}
		return nil
	}
}

// Reassert implements Reasserter: when a journaled file was replaced behind
// dnspin's back (a DHCP client or NetworkManager rewrote resolv.conf), the
// new file becomes the "original" in the journal (fsynced first) and
// dnspin's settings are written again. A file that is still dnspin's but
// differs from the plan is rewritten too.
func (c *linuxConfigurator) Reassert(ctx context.Context) (bool, error) {
	unlock, err := c.lock()
	if err != nil {
		return false, err
	}
	defer unlock()
	return c.reassert(ctx)
}

func (c *linuxConfigurator) reassert(ctx context.Context) (bool, error) {
	j, err := ReadJournal(c.fs, c.o.StateDir)
	if err != nil || j == nil || !j.Active {
		return false, err
	}
	adopted := false
	for i, r := range j.Records {
		fi, lerr := c.fs.Lstat(r.Key)
		cur, _ := c.fs.ReadFile(r.Key)
		ours := lerr == nil && fi.Mode().IsRegular() && bytes.Contains(cur, []byte(Marker))
		if ours {
			// dnspin replaced a symlink (to NetworkManager's or resolved's
			// file under /run): its manager keeps updating the target, which
			// holds the servers dnspin falls back to and forwards to.
			if r.Link != "" {
				t, err := c.fs.ReadFile(absLink(filepath.Dir(r.Key), r.Link))
				if err == nil && !bytes.Equal(t, r.Data) {
					c.o.Logger.Info("activation: the original symlink's target changed; taking its servers", "file", r.Key, "target", r.Link)
					j.Records[i].Data = t
					adopted = true
				}
			}
			continue
		}
		nr, err := c.record(r.Key)
		if err != nil {
			return false, err
		}
		c.recordResolvOptions(&nr)
		// What was learnt at activation (the directories dnspin created,
		// resolved's original global servers) still holds.
		for k, v := range r.Meta {
			if _, ok := nr.Meta[k]; !ok && k != "uid" && k != "gid" {
				if nr.Meta == nil {
					nr.Meta = map[string]string{}
				}
				nr.Meta[k] = v
			}
		}
		c.o.Logger.Info("activation: file rewritten behind dnspin's back; adopting it as the original", "file", r.Key)
		j.Records[i] = nr
		adopted = true
	}
	resolved := Backend(j.Backend) == BackendResolved
	ns := j.Nameservers
	if adopted || resolved {
		ns = c.originalNameservers(ctx, Backend(j.Backend), j)
	}
	// With systemd-resolved the network may change (other DHCP servers):
	// the fallback servers in the drop-in and the "system" upstreams follow.
	if resolved && len(ns) > 0 && !slices.Equal(ns, j.Nameservers) {
		c.o.Logger.Info("activation: systemd-resolved's servers changed; taking them as the original", "servers", ns)
		adopted = true
	}
	if adopted {
		j.Nameservers = ns
		if err := WriteJournal(c.fs, c.o.StateDir, j); err != nil {
			return false, err
		}
	}
	changed, err := c.enforce(ctx, j)
	return changed || adopted, err
}

// Current implements Configurator.
func (c *linuxConfigurator) Current(ctx context.Context) (Snapshot, error) {
	j, err := ReadJournal(c.fs, c.o.StateDir)
	if err != nil {
		return Snapshot{}, err
	}
	s := Snapshot{Files: map[string]string{}}
	rc, err := c.fs.ReadFile(ResolvConf)
	if err == nil {
		s.Files[ResolvConf] = string(rc)
	}
	s.Nameservers = ParseNameservers(rc)
	var b Backend
	if j != nil {
		b = Backend(j.Backend)
		want, _ := c.desiredAll(j)
		s.Activated = j.Active
		for _, r := range j.Records {
			cur, err := c.fs.ReadFile(r.Key)
			if err == nil {
				s.Files[r.Key] = string(cur)
			}
			if !bytes.Equal(cur, want[r.Key]) {
				s.Activated = false
				s.Notes = append(s.Notes, fmt.Sprintf("%s no longer holds dnspin's settings; the service puts them back within seconds.", r.Key))
			}
		}
		if j.Plan.Mode == "scoped" && b != BackendResolved {
			s.Notes = append(s.Notes, string(b)+" cannot send single domains to a server, so all DNS goes through dnspin (full); the original servers follow dnspin's in resolv.conf, so the system falls back to them when dnspin is not running.")
		}
	} else {
		b = ChooseLinuxBackend(c.env(ctx))
	}
	s.Backend = string(b)
	if b == BackendResolved {
		if d, err := c.fs.ReadFile(ResolvedDropIn); err == nil {
			s.Files[ResolvedDropIn] = string(d)
		}
		if j != nil && j.Plan.Mode == "scoped" {
			s.Notes = append(s.Notes, "systemd-resolved sends the platform's domains to dnspin first (if dnspin stops, it moves on to the original servers listed after it). It treats global servers as a default route, so other names may also be asked of dnspin, in parallel with the network's servers; the first answer wins.")
		}
	}
	return s, nil
}

// DryRun implements DryRunner: what Apply(p) would do, changing nothing.
func (c *linuxConfigurator) DryRun(ctx context.Context, p Plan) (string, error) {
	p = normalizePlan(p)
	if err := validatePlan(p); err != nil {
		return "", err
	}
	var sb strings.Builder
	j, err := ReadJournal(c.fs, c.o.StateDir)
	if err != nil {
		return "", err
	}
	if j != nil {
		fmt.Fprintf(&sb, "A journal from an earlier activation exists (%s); it is restored first.\n", filepath.Join(c.o.StateDir, JournalFile))
	}
	b := ChooseLinuxBackend(c.env(ctx))
	nj := &Journal{Backend: string(b), Plan: p}
	for _, f := range c.files(b) {
		r, err := c.record(f)
		if err != nil {
			return "", err
		}
		if f == ResolvedDropIn {
			c.recordResolvedGlobals(ctx, &r)
		}
		c.recordResolvOptions(&r)
		nj.Records = append(nj.Records, r)
	}
	nj.Nameservers = c.originalNameservers(ctx, b, nj)
	want, err := c.desiredAll(nj)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&sb, "backend: %s\nmode: %s\n", b, p.Mode)
	if len(p.Domains) > 0 {
		fmt.Fprintf(&sb, "domains: %s\n", strings.Join(p.Domains, ", "))
	}
	if p.Mode == "scoped" && b != BackendResolved {
		fmt.Fprintf(&sb, "note: %s cannot route single domains; all DNS goes through dnspin, the original servers stay listed after it.\n", b)
	}
	fmt.Fprintf(&sb, "journal: %s (written and fsynced before any change)\n", filepath.Join(c.o.StateDir, JournalFile))
	for _, r := range nj.Records {
		what := "absent"
		switch {
		case r.Link != "":
			what = "symlink to " + r.Link
		case r.Existed:
			what = fmt.Sprintf("file, mode %04o, %d bytes", r.Mode.Perm(), len(r.Data))
		}
		fmt.Fprintf(&sb, "\nwould write %s (now: %s):\n", r.Key, what)
		for _, l := range strings.SplitAfter(strings.TrimRight(string(want[r.Key]), "\n"), "\n") {
			fmt.Fprintf(&sb, "  | %s", strings.TrimRight(l, "\n")+"\n")
		}
	}
	switch b {
	case BackendResolved:
		sb.WriteString("\nthen run: systemctl try-reload-or-restart systemd-resolved.service; resolvectl flush-caches\n")
	case BackendResolvconf:
		sb.WriteString("\nthen run: resolvconf -u\n")
	}
	return sb.String(), nil
}

// normalizePlan lower-cases domains and drops trailing dots and duplicates.
func normalizePlan(p Plan) Plan {
	if p.Mode == "" {
		p.Mode = "scoped"
	}
	var ds []string
	for _, d := range p.Domains {
		d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		if d != "" && !slices.Contains(ds, d) {
			ds = append(ds, d)
		}
	}
	p.Domains = ds
	return p
}

func validatePlan(p Plan) error {
	if p.Mode != "scoped" && p.Mode != "full" {
		return fmt.Errorf("activation %q is not known: use \"scoped\" or \"full\"", p.Mode)
	}
	if p.Mode == "scoped" && len(p.Domains) == 0 {
		return errors.New("activation = \"scoped\" needs the platform's domains: set platform.domains in the config, or use activation = \"full\"")
	}
	if len(p.Resolver) == 0 {
		return errors.New("activation: no listen address to point the system at: set listen in the config")
	}
	for _, r := range p.Resolver {
		if _, err := netip.ParseAddrPort(r); err != nil {
			return fmt.Errorf("activation: listen address %q is not IP:port (e.g. 127.0.0.1:53)", r)
		}
	}
	return nil
}

// port53 returns the first listen address on port 53, IPv4 first: the one
// resolv.conf can name (it has no port syntax). The direct backend lists
// only this one and then one original server (see directResolvConf).
func port53(p Plan) (netip.Addr, error) {
	var v6 netip.Addr
	for _, r := range p.Resolver {
		ap, _ := netip.ParseAddrPort(r)
		if ap.Port() != 53 {
			continue
		}
		if ap.Addr().Is4() {
			return ap.Addr(), nil
		}
		if !v6.IsValid() {
			v6 = ap.Addr()
		}
	}
	if v6.IsValid() {
		return v6, nil
	}
	return netip.Addr{}, fmt.Errorf("activation: resolv.conf can only name servers on port 53, but listen is %v: add \"127.0.0.1:53\" to listen in the config", p.Resolver)
}

// desired is the content dnspin wants in the file of record r.
func desired(j *Journal, r Record) ([]byte, error) {
	p := j.Plan
	switch r.Key {
	case ResolvedDropIn:
		return resolvedDropIn(p, j.Nameservers, strings.Fields(r.Meta["global_domains"])), nil
	case ResolvconfHead:
		as, err := resolvconfServers(p)
		if err != nil {
			return nil, err
		}
		ns := ""
		for _, a := range as {
			ns += "nameserver " + a + "\n"
		}
		return []byte(Marker + "\n" + string(r.Data) + ensureNL(string(r.Data)) + ns), nil
	case ResolvconfTail:
		return []byte(Marker + "\n" + string(r.Data) + ensureNL(string(r.Data)) +
			failFastLines([]byte("options "+r.Meta["resolv_options"]))), nil
	case OpenresolvConf:
		as, err := resolvconfServers(p)
		if err != nil {
			return nil, err
		}
		t, n, _ := resolvOptions([]byte("options " + r.Meta["resolv_options"]))
		return []byte(Marker + "\n" + string(r.Data) + ensureNL(string(r.Data)) +
			"# dnspin: its addresses first (glibc then reads one more), the others after them (fallback when dnspin is not running).\n" +
			"# openresolv drops every other server when a loopback one is listed, unless resolv_conf_local_only=NO.\n" +
			`name_servers="` + strings.Join(as, " ") + `${name_servers:+ $name_servers}"` + "\n" +
			"resolv_conf_local_only=NO\n" +
			"# dnspin: fail fast when dnspin answers SERVFAIL in an outage (1 s per silent server, one try); glibc takes the last value\n" +
			fmt.Sprintf(`resolv_conf_options="${resolv_conf_options:+$resolv_conf_options }timeout:%d attempts:%d"`, t, n) + "\n"), nil
	default:
		return directResolvConf(p, r.Data)
	}
}

// resolvconfServers are the dnspin addresses the resolvconf backends put
// before the interfaces' servers: the first IPv4 and the first IPv6 listen
// address on port 53. resolvconf lists every interface server after them,
// and glibc reads only three, so with both addresses glibc sees one
// original server, as with the direct backend: a dark network then costs
// 1 s per name tried, not 2 s. A dead dnspin refuses on both at once.
func resolvconfServers(p Plan) ([]string, error) {
	var v4, v6 string
	for _, r := range p.Resolver {
		ap, _ := netip.ParseAddrPort(r)
		switch {
		case ap.Port() != 53:
		case ap.Addr().Is4() && v4 == "":
			v4 = ap.Addr().String()
		case ap.Addr().Is6() && v6 == "":
			v6 = ap.Addr().String()
		}
	}
	if v4 == "" && v6 == "" {
		_, err := port53(p) // its error names the fix
		return nil, err
	}
	var out []string
	for _, a := range []string{v4, v6} {
		if a != "" {
			out = append(out, a)
		}
	}
	return out, nil
}

func ensureNL(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return ""
	}
	return "\n"
}

// directResolvConf is dnspin's resolv.conf: its server first, then ONE
// original server (so glibc falls back to it at once when dnspin is gone: a
// closed port answers with ICMP port unreachable), then the original search
// and options lines, then dnspin's fast-failure options (see resolvopts.go).
// Only one original is listed because every silent server glibc walks
// through costs at least a second per name tried: with the network dark,
// dnspin + 1 original fails a name in 1 s (2 s with a search domain), + 2
// originals in 2 s (4 s). The others stay in the journal: dnspin forwards
// to all of them (upstreams = ["system"]). "options rotate" is dropped: it
// would send a share of queries around dnspin.
func directResolvConf(p Plan, orig []byte) ([]byte, error) {
	self, err := port53(p)
	if err != nil {
		return nil, err
	}
	var fallback, fallbackAddr string
	var others []string
	for _, n := range nameserverTokens(orig) {
		a := ParseNameservers([]byte("nameserver " + n))[0]
		switch {
		case a == self.String() || a == fallbackAddr || slices.Contains(others, a):
		case fallback == "":
			fallback, fallbackAddr = n, a
		default:
			others = append(others, a)
		}
	}
	var sb strings.Builder
	sb.WriteString(Marker + "\n")
	sb.WriteString("# dnspin activation (" + p.Mode + "): dnspin first, then one original server (used if dnspin is not running).\n")
	sb.WriteString("nameserver " + self.String() + "\n")
	if fallback != "" {
		sb.WriteString("nameserver " + fallback + "\n")
	}
	if len(others) > 0 {
		sb.WriteString("# other original servers, not listed (each would cost 1 s per name when dark): " + strings.Join(others, " ") + "\n")
	}
	sc := bufio.NewScanner(bytes.NewReader(orig))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") || f[0] == "nameserver" {
			continue
		}
		if f[0] == "options" {
			if line = keptOptionsLine(f); line == "" {
				continue
			}
		}
		sb.WriteString(line + "\n")
	}
	sb.WriteString(failFastLines(orig))
	return []byte(sb.String()), nil
}

// resolvedStub reports whether a is one of systemd-resolved's own stub
// listeners (127.0.0.53, and 127.0.0.54 since v251): listing one as a
// server would send resolved's queries back to itself.
func resolvedStub(a netip.Addr) bool {
	return a == netip.AddrFrom4([4]byte{127, 0, 0, 53}) || a == netip.AddrFrom4([4]byte{127, 0, 0, 54})
}

// resolvedDropIn routes the platform's domains (scoped) or everything
// (full, "~.") to dnspin's listen addresses. It first resets DNS= and
// Domains= (list settings add up across files) so dnspin's server comes
// first, then lists the original servers after it: systemd-resolved moves
// to the next server when one fails, so names keep resolving if dnspin
// dies, and the reload at dnspin's restart puts dnspin first again.
func resolvedDropIn(p Plan, fallback, globalDomains []string) []byte {
	var dns []string
	for _, r := range p.Resolver {
		ap, _ := netip.ParseAddrPort(r)
		switch {
		case ap.Port() == 53:
			dns = append(dns, ap.Addr().String())
		default:
			dns = append(dns, ap.String())
		}
	}
	for _, f := range fallback {
		// A loopback server is a fallback like any other (a local dnsmasq
		// in resolved.conf); only resolved's own stub addresses are not.
		if a, err := netip.ParseAddr(f); err == nil && !resolvedStub(a) && !slices.Contains(dns, f) {
			dns = append(dns, f)
		}
	}
	domains := []string{"~."}
	if p.Mode == "scoped" {
		domains = nil
		for _, d := range p.Domains {
			domains = append(domains, "~"+d)
		}
	}
	for _, d := range globalDomains {
		if !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	return []byte(Marker + "\n[Resolve]\nDNS=\nDNS=" + strings.Join(dns, " ") + "\nDomains=\nDomains=" + strings.Join(domains, " ") + "\n")
}
