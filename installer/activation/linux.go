package activation

import (
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
)

// ResolvConf is where Linux keeps its resolver configuration.
const ResolvConf = "/etc/resolv.conf"

// linuxBackend is one way of pointing Linux at dnspin: the files it
// changes, what it writes there and how its daemon reads them again
// (linux_direct.go, linux_resolved.go, linux_nm.go, linux_resolvconf.go;
// linux_detect.go picks one). Everything else is the shared core below:
// the journal, the lock, the write discipline, restore and the watcher.
type linuxBackend interface {
	// name is the backend's name in the journal, snapshots and messages.
	name() Backend
	// files are the files it changes, in the order they are journaled.
	files() []string
	// learn adds to r, the record of one of its files taken before
	// activation, what else it must know of the system (r.Meta).
	learn(ctx context.Context, r *Record)
	// relearn is learn for a file adopted as the new original after it
	// was rewritten behind dnspin's back.
	relearn(r *Record)
	// originals are the name servers the system used before dnspin.
	originals(ctx context.Context, j *Journal) []string
	// desired is the content dnspin wants in the file of r.
	desired(j *Journal, r Record) ([]byte, error)
	// reload are the commands that make its daemon read the files again.
	reload() [][]string
	// scopes reports whether it can send single domains to dnspin; the
	// others send all DNS through dnspin in scoped mode too.
	scopes() bool
	// liveServers reports whether the servers it falls back to change
	// without its files changing, so the watcher reads them on every tick.
	liveServers() bool
	// snapshot adds to s what Current shows beyond the journaled files.
	snapshot(j *Journal, s *Snapshot)
}

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

func newLinuxConfigurator(o Options) (*linuxConfigurator, error) {
	efs, ok := o.FS.(ExtFS)
	if !ok {
		return nil, fmt.Errorf("activation: the file system seam %T cannot keep symlinks and owners exact (it must implement activation.ExtFS)", o.FS)
	}
	if o.StateDir == "" {
		return nil, errors.New("activation: no state directory for the journal: set state_dir in the config")
	}
	return &linuxConfigurator{o: o, fs: efs}, nil
}

// linuxResolvers are the servers Linux uses now.
func linuxResolvers(o Options) ([]string, error) {
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
		b := c.chooseBackend(ctx)
		j = &Journal{Created: c.o.Now().UTC(), Backend: string(b.name()), Plan: p, Active: true}
		if err := c.recordFiles(ctx, b, j); err != nil {
			return err
		}
		if _, err := c.desiredAll(j); err != nil {
			return err // e.g. no port-53 listen address: refuse before the journal exists
		}
		if err := WriteJournal(c.fs, c.o.StateDir, j); err != nil {
			return err
		}
		c.o.Logger.Info("activation: journal written", "backend", b.name(), "mode", p.Mode, "journal", filepath.Join(c.o.StateDir, JournalFile))
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

// recordFiles journals the files b changes as they are now, with what b
// learns beside them, and the servers the system used before dnspin.
func (c *linuxConfigurator) recordFiles(ctx context.Context, b linuxBackend, j *Journal) error {
	for _, f := range b.files() {
		r, err := c.record(f)
		if err != nil {
			return err
		}
		b.learn(ctx, &r)
		j.Records = append(j.Records, r)
	}
	j.Nameservers = b.originals(ctx, j)
	return nil
}

// desiredAll returns the content dnspin wants in each journaled file.
func (c *linuxConfigurator) desiredAll(j *Journal) (map[string][]byte, error) {
	be := c.backend(Backend(j.Backend))
	out := map[string][]byte{}
	for _, r := range j.Records {
		b, err := be.desired(j, r)
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
		if err := c.reload(ctx, c.backend(Backend(j.Backend))); err != nil {
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
func (c *linuxConfigurator) reload(ctx context.Context, b linuxBackend) error {
	for _, cmd := range b.reload() {
		if out, err := c.o.Run(ctx, cmd[0], cmd[1:]...); err != nil {
			return fmt.Errorf("activation: %s: %w: %s (check that %s is running, then run the command again)",
				strings.Join(cmd, " "), err, bytes.TrimSpace(out), b.name())
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
	if err := c.reload(ctx, c.backend(Backend(j.Backend))); err != nil {
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
	b := c.backend(Backend(j.Backend))
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
		b.relearn(&nr)
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
	live := b.liveServers()
	ns := j.Nameservers
	if adopted || live {
		ns = b.originals(ctx, j)
	}
	// With systemd-resolved the network may change (other DHCP servers):
	// the fallback servers in the drop-in and the "system" upstreams follow.
	if live && len(ns) > 0 && !slices.Equal(ns, j.Nameservers) {
		c.o.Logger.Info("activation: "+string(b.name())+"'s servers changed; taking them as the original", "servers", ns)
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
	var b linuxBackend
	if j != nil {
		b = c.backend(Backend(j.Backend))
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
		if j.Plan.Mode == "scoped" && !b.scopes() {
			s.Notes = append(s.Notes, string(b.name())+" cannot send single domains to a server, so all DNS goes through dnspin (full); the original servers follow dnspin's in resolv.conf, so the system falls back to them when dnspin is not running.")
		}
	} else {
		b = c.chooseBackend(ctx)
	}
	s.Backend = string(b.name())
	b.snapshot(j, &s)
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
	b := c.chooseBackend(ctx)
	nj := &Journal{Backend: string(b.name()), Plan: p}
	if err := c.recordFiles(ctx, b, nj); err != nil {
		return "", err
	}
	want, err := c.desiredAll(nj)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&sb, "backend: %s\nmode: %s\n", b.name(), p.Mode)
	if len(p.Domains) > 0 {
		fmt.Fprintf(&sb, "domains: %s\n", strings.Join(p.Domains, ", "))
	}
	if p.Mode == "scoped" && !b.scopes() {
		fmt.Fprintf(&sb, "note: %s cannot route single domains; all DNS goes through dnspin, the original servers stay listed after it.\n", b.name())
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
	if cmds := b.reload(); len(cmds) > 0 {
		var lines []string
		for _, cmd := range cmds {
			lines = append(lines, strings.Join(cmd, " "))
		}
		sb.WriteString("\nthen run: " + strings.Join(lines, "; ") + "\n")
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

// port53 returns dnspin's addresses resolv.conf can name (it has no port
// syntax): the first IPv4 and the first IPv6 listen address on port 53, each
// "" if there is none. The direct backend lists one of them (IPv4 first)
// and then one original server (see directResolvConf), the resolvconf
// backends both (see resolvconfServers).
func port53(p Plan) (v4, v6 string, err error) {
	as, err := ownAddrs(p.Resolver, 53, netip.Addr{})
	if err != nil {
		return "", "", fmt.Errorf("activation: %w", err)
	}
	for _, a := range as {
		switch {
		case a.Is4() && v4 == "":
			v4 = a.String()
		case a.Is6() && v6 == "":
			v6 = a.String()
		}
	}
	if v4 == "" && v6 == "" {
		return "", "", fmt.Errorf("activation: resolv.conf can only name servers on port 53, but listen is %v: add \"127.0.0.1:53\" to listen in the config", p.Resolver)
	}
	return v4, v6, nil
}

func ensureNL(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return ""
	}
	return "\n"
}
