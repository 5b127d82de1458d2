package activation

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"strings"
)

// macOS activation, written without build tags so it is tested on every OS
// through the FS and Runner seams (golden transcripts in testdata/).
//
//   - scoped: one /etc/resolver/<domain> file per platform domain (see
//     resolver(5)); mDNSResponder sends that domain and all names below it
//     to the servers in the file: dnspin, then the servers of
//     /etc/resolv.conf recorded before activation as fallbacks (on port 53
//     only). Each file starts with Marker.
//   - full: `networksetup -setdnsservers SERVICE 127.0.0.1 ORIGINALS...` for
//     every enabled network service. A service whose DNS came from DHCP
//     ("There aren't any DNS Servers set") is put back with `Empty`, one with
//     an explicit list gets exactly that list back.
//
// After changes the resolver cache is flushed (dscacheutil -flushcache,
// killall -HUP mDNSResponder).
const (
	macResolverDir = "/etc/resolver"
	backendMacOS   = "macos"

	macKindFile         = "file"
	macKindDir          = "dir"
	macKindNetworkSetup = "networksetup"

	macNoDNS = "There aren't any DNS Servers set on"

	macMaxNS = 3 // resolver(5): "Up to MAXNS (currently 3) name servers"
)

type macDNS struct {
	o Options
}

var _ Configurator = (*macDNS)(nil)

// NewMacOSConfigurator returns the macOS configurator with the given seams.
// It runs on any OS; configurator_darwin.go uses the real ones.
func NewMacOSConfigurator(o Options) Configurator {
	return &macDNS{o: o.withDefaults()}
}

// macChange is one thing the plan sets: a resolver file or a service's DNS list.
type macChange struct {
	kind, key string
	data      []byte   // file content
	servers   []string // networksetup list
	// cur is a service's DNS list (nil: Empty) as desired read it for a
	// service the journal does not hold yet: record journals exactly what
	// the plan was built on, without asking networksetup again.
	cur []string
}

// resolverFile is the /etc/resolver file for the plan: dnspin's addresses,
// then (on port 53) the originals recorded before activation as fallbacks,
// at most macMaxNS nameserver lines in all (see fallback.go).
func (m *macDNS) resolverFile(p Plan, originals []string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(Marker + "\n")
	if len(p.Resolver) == 0 {
		return nil, errors.New("dnspin has no listen address to point the system at: set listen in the config")
	}
	first, err := netip.ParseAddrPort(p.Resolver[0])
	if err != nil {
		return nil, fmt.Errorf("listen address %q is not IP:port", p.Resolver[0])
	}
	port := first.Port() // resolver(5) has one port per file: the first address's
	as, err := ownAddrs(p.Resolver, port, loopback4)
	if err != nil {
		return nil, err
	}
	var self []string
	for _, a := range as {
		if !slices.Contains(self, a.String()) {
			self = append(self, a.String())
		}
	}
	var fallback []string
	if port == 53 {
		// The port line would apply to the originals too: only on port 53
		// can they be listed. A second dnspin address adds no resilience
		// (same process), so with fallbacks dnspin gets one line.
		if fallback = fallbackServers(originals, self, macMaxNS-1); len(fallback) > 0 {
			self = self[:1]
		}
	}
	for _, a := range slices.Concat(self, fallback) {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	if port != 53 {
		fmt.Fprintf(&b, "port %d\n", port)
	}
	return b.Bytes(), nil
}

// services lists the enabled network services in networksetup's order.
func (m *macDNS) services(ctx context.Context) ([]string, error) {
	out, err := m.o.Run(ctx, "networksetup", "-listallnetworkservices")
	if err != nil {
		return nil, fmt.Errorf("networksetup -listallnetworkservices: %w: %s", err, bytes.TrimSpace(out))
	}
	var svcs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "An asterisk") || strings.HasPrefix(l, "*") {
			continue // header, or a disabled service
		}
		svcs = append(svcs, l)
	}
	return svcs, nil
}

// dnsServers returns a service's explicit DNS list; nil means "Empty" (DHCP).
func (m *macDNS) dnsServers(ctx context.Context, svc string) ([]string, error) {
	out, err := m.o.Run(ctx, "networksetup", "-getdnsservers", svc)
	if err != nil {
		return nil, fmt.Errorf("networksetup -getdnsservers %q: %w: %s", svc, err, bytes.TrimSpace(out))
	}
	if bytes.Contains(out, []byte(macNoDNS)) {
		return nil, nil
	}
	var list []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if _, err := netip.ParseAddr(l); err == nil {
			list = append(list, l)
		} else if l != "" {
			return nil, fmt.Errorf("networksetup -getdnsservers %q printed %q, which dnspin does not understand; nothing was changed", svc, l)
		}
	}
	return list, nil
}

func (m *macDNS) systemResolvers() []string {
	b, err := m.o.FS.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range ParseNameservers(b) {
		if a, err := netip.ParseAddr(n); err == nil && !a.IsLoopback() {
			out = append(out, n)
		}
	}
	return out
}

func (m *macDNS) desired(ctx context.Context, p Plan, j *Journal) ([]macChange, error) {
	var cs []macChange
	switch p.Mode {
	case "scoped":
		if len(p.Domains) == 0 {
			return nil, errors.New("scoped activation needs at least one domain in [platform] domains")
		}
		content, err := m.resolverFile(p, j.Nameservers)
		if err != nil {
			return nil, err
		}
		cs = append(cs, macChange{kind: macKindDir, key: macResolverDir})
		for _, d := range p.Domains {
			cs = append(cs, macChange{kind: macKindFile, key: path.Join(macResolverDir, d), data: content})
		}
	case "full":
		v4, v6, err := port53Servers(p.Resolver)
		if err != nil {
			return nil, err
		}
		self := append(v4, v6...)
		svcs, err := m.services(ctx)
		if err != nil {
			return nil, err
		}
		if len(svcs) == 0 {
			return nil, errors.New("networksetup lists no enabled network service; connect to a network, then activate again")
		}
		for _, s := range svcs {
			// Fall back to what the service had: its explicit list, or for
			// a DHCP service the servers the system used before activation.
			c := macChange{kind: macKindNetworkSetup, key: s}
			var orig []string
			if r, ok := j.Find(macKindNetworkSetup, s); ok {
				orig = strings.Fields(string(r.Data))
				if !r.Existed {
					orig = j.Nameservers
				}
			} else {
				if c.cur, err = m.dnsServers(ctx, s); err != nil {
					return nil, err
				}
				orig = c.cur
				if c.cur == nil {
					orig = j.Nameservers
				}
			}
			c.servers = append(slices.Clone(self), withoutAddrs(orig, self)...)
			cs = append(cs, c)
		}
	default:
		return nil, fmt.Errorf("activation mode %q is not scoped or full", p.Mode)
	}
	return cs, nil
}

func (m *macDNS) record(c macChange) (Record, error) {
	r := Record{Kind: c.kind, Key: c.key}
	switch c.kind {
	case macKindDir:
		_, err := m.o.FS.Stat(c.key)
		r.Existed = err == nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return r, fmt.Errorf("%s: %w", c.key, err)
		}
	case macKindFile:
		st, err := m.o.FS.Lstat(c.key)
		if errors.Is(err, fs.ErrNotExist) {
			return r, nil
		}
		if err != nil {
			return r, fmt.Errorf("%s: %w", c.key, err)
		}
		r.Existed, r.Mode = true, st.Mode().Perm()
		if st.Mode()&fs.ModeSymlink != 0 {
			if r.Link, err = m.o.FS.Readlink(c.key); err != nil {
				return r, err
			}
			return r, nil
		}
		if r.Data, err = m.o.FS.ReadFile(c.key); err != nil {
			return r, fmt.Errorf("%s: %w", c.key, err)
		}
	case macKindNetworkSetup:
		list := c.cur
		r.Existed = list != nil
		r.Data = []byte(strings.Join(list, "\n"))
		r.Meta = map[string]string{"was": "Empty"}
		if list != nil {
			r.Meta["was"] = strings.Join(list, " ")
		}
	}
	return r, nil
}

func (m *macDNS) Apply(ctx context.Context, p Plan) error {
	j, err := ReadJournal(m.o.FS, m.o.StateDir)
	if err != nil {
		return err
	}
	if j == nil {
		j = &Journal{Backend: backendMacOS, Created: m.o.Now().UTC(), Nameservers: m.systemResolvers()}
	}
	cs, err := m.desired(ctx, p, j)
	if err != nil {
		return err
	}
	want := planSet{}
	for _, c := range cs {
		want.add(c.kind, c.key)
		if _, ok := j.Find(c.kind, c.key); ok {
			continue // recorded by an earlier apply: that is the original
		}
		r, err := m.record(c)
		if err != nil {
			return err
		}
		j.Records = append(j.Records, r)
	}
	j.Plan, j.Active, j.Backend = p, true, backendMacOS
	if err := WriteJournal(m.o.FS, m.o.StateDir, j); err != nil {
		return err
	}
	for _, c := range cs {
		if err := m.set(ctx, c); err != nil {
			return fmt.Errorf("activate: %w; run `dnspin deactivate` to put back what was changed so far", err)
		}
	}
	if _, err := dropStale(m.o, j, want, func(rs []Record) error { return m.replay(ctx, rs) }); err != nil {
		return err
	}
	m.flush(ctx)
	m.o.Logger.Info("DNS activated", "backend", backendMacOS, "mode", p.Mode)
	return nil
}

func (m *macDNS) set(ctx context.Context, c macChange) error {
	switch c.kind {
	case macKindDir:
		return m.o.FS.MkdirAll(c.key, 0o755)
	case macKindFile:
		if cur, err := m.o.FS.ReadFile(c.key); err == nil && bytes.Equal(cur, c.data) {
			return nil
		}
		return m.o.FS.WriteFileAtomic(c.key, c.data, 0o644)
	case macKindNetworkSetup:
		if cur, err := m.dnsServers(ctx, c.key); err == nil && slices.Equal(cur, c.servers) {
			return nil
		}
		return m.networksetup(ctx, c.key, c.servers)
	}
	return nil
}

func (m *macDNS) networksetup(ctx context.Context, svc string, servers []string) error {
	args := append([]string{"-setdnsservers", svc}, servers...)
	if len(servers) == 0 {
		args = append(args, "Empty")
	}
	if out, err := m.o.Run(ctx, "networksetup", args...); err != nil {
		return fmt.Errorf("networksetup %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (m *macDNS) replay(ctx context.Context, rs []Record) error {
	var errs []error
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		switch r.Kind {
		case macKindNetworkSetup:
			var list []string
			if r.Existed {
				list = strings.Fields(string(r.Data))
			}
			if err := m.networksetup(ctx, r.Key, list); err != nil {
				errs = append(errs, err)
			}
		case macKindFile:
			var err error
			switch {
			case !r.Existed:
				err = m.o.FS.Remove(r.Key)
				if errors.Is(err, fs.ErrNotExist) {
					err = nil
				}
			case r.Link != "":
				err = fmt.Errorf("%s was a symlink to %s: recreate it with `ln -sf %s %s`", r.Key, r.Link, r.Link, r.Key)
			default:
				err = m.o.FS.WriteFileAtomic(r.Key, r.Data, r.Mode)
			}
			if err != nil {
				errs = append(errs, err)
			}
		case macKindDir:
			if !r.Existed {
				if err := m.o.FS.Remove(r.Key); err != nil && !errors.Is(err, fs.ErrNotExist) {
					// Someone else put files there since: leave it.
					m.o.Logger.Info("restore: leaving directory in place", "dir", r.Key, "reason", err)
				}
			}
		default:
			errs = append(errs, fmt.Errorf("journal record kind %q (%s) is not a macOS record: restore it by hand", r.Kind, r.Key))
		}
	}
	return errors.Join(errs...)
}

func (m *macDNS) Restore(ctx context.Context) error {
	return restoreJournal(m.o, backendMacOS, func(rs []Record) error { return m.replay(ctx, rs) }, nil, func(*Journal) { m.flush(ctx) })
}

func (m *macDNS) Current(ctx context.Context) (Snapshot, error) {
	s := Snapshot{Backend: backendMacOS, Files: map[string]string{}}
	if b, err := m.o.FS.ReadFile("/etc/resolv.conf"); err == nil {
		s.Nameservers = ParseNameservers(b)
	}
	j, _ := ReadJournal(m.o.FS, m.o.StateDir)
	if j != nil {
		for _, r := range j.Records {
			if r.Kind == macKindFile {
				if b, err := m.o.FS.ReadFile(r.Key); err == nil {
					s.Files[r.Key] = string(b)
					s.Activated = s.Activated || bytes.HasPrefix(b, []byte(Marker))
				}
			}
		}
	}
	svcs, err := m.services(ctx)
	if err != nil {
		s.Notes = append(s.Notes, err.Error())
		return s, nil
	}
	for _, svc := range svcs {
		list, err := m.dnsServers(ctx, svc)
		switch {
		case err != nil:
			s.Notes = append(s.Notes, err.Error())
		case list == nil:
			s.Notes = append(s.Notes, fmt.Sprintf("service %q: DNS from DHCP (Empty)", svc))
		default:
			s.Activated = s.Activated || pointsAtLoopback(list)
			s.Notes = append(s.Notes, fmt.Sprintf("service %q: DNS %s", svc, strings.Join(list, " ")))
		}
	}
	return s, nil
}

func (m *macDNS) flush(ctx context.Context) {
	for _, c := range [][]string{{"dscacheutil", "-flushcache"}, {"killall", "-HUP", "mDNSResponder"}} {
		if out, err := m.o.Run(ctx, c[0], c[1:]...); err != nil {
			m.o.Logger.Warn("flushing the DNS cache failed", "command", strings.Join(c, " "), "err", err, "output", strings.TrimSpace(string(out)))
		}
	}
}
