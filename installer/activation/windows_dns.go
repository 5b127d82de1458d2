package activation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Windows activation, written without build tags so it is tested on every OS
// through the Registry and Runner seams (golden transcripts in testdata/).
//
//   - scoped: one NRPT rule per platform domain, pointing at dnspin.
//   - full: every connected interface's DNS servers become dnspin followed by
//     the servers it had, so Windows falls back to them if dnspin is gone.
//     The interface's NameServer value is what Windows keeps for static DNS;
//     when it is empty or absent the interface uses DHCP (DhcpNameServer).
//     Restore writes NameServer back exactly (value absent, empty, or the
//     old list), so a DHCP interface is DHCP again and a static one keeps
//     its servers — the mistake users complain about in other tools.
//
// Every value dnspin will write is read first and recorded in the journal,
// which is fsynced before the first write. After changes the DNS client's
// cache is flushed (ipconfig /flushdns).
const (
	// TcpipIfKey and Tcpip6IfKey hold one subkey per network interface,
	// with its NameServer (static) and DhcpNameServer values.
	TcpipIfKey  = `SYSTEM\CurrentControlSet\Services\Tcpip\Parameters\Interfaces`
	Tcpip6IfKey = `SYSTEM\CurrentControlSet\Services\Tcpip6\Parameters\Interfaces`

	backendWindows = "windows"

	// KindRegValue is the Record.Kind of a registry value (Meta key,
	// value; Data = JSON RegValue).
	KindRegValue = "registry"
	kindRegKey   = "registry-key" // Existed says whether dnspin created it
)

type windowsDNS struct {
	o   Options
	reg Registry
}

var _ Configurator = (*windowsDNS)(nil)

// NewWindowsConfigurator returns the Windows configurator on reg with the
// given seams. It runs on any OS; configurator_windows.go passes the real
// registry.
func NewWindowsConfigurator(o Options, reg Registry) Configurator {
	return &windowsDNS{o: o.withDefaults(), reg: reg}
}

// regChange is one value dnspin sets.
type regChange struct {
	key, name string
	v         RegValue
}

func regRecordKey(key, name string) string { return key + `\` + name }

// desired returns the keys dnspin must create and the values it sets for p.
// originals are the servers recorded before activation: scoped rules list
// them after dnspin (see fallback.go).
func (w *windowsDNS) desired(p Plan, originals []string) (keys []string, changes []regChange, gp bool, err error) {
	v4, v6, err := port53Servers(p.Resolver)
	if err != nil {
		return nil, nil, false, err
	}
	switch p.Mode {
	case "scoped":
		if len(p.Domains) == 0 {
			return nil, nil, false, errors.New("scoped activation needs at least one domain in [platform] domains")
		}
		bases := []string{NRPTLocalKey}
		if gp, err = w.foreignGPRules(p.Domains); err != nil {
			return nil, nil, false, err
		}
		if gp {
			bases = append(bases, nrptGPKey)
		}
		self := append(slices.Clone(v4), v6...)
		servers := append(slices.Clone(self), fallbackServers(originals, self, maxFallbackServers)...)
		for _, base := range bases {
			for _, d := range p.Domains {
				k := base + `\` + nrptRuleID(d)
				keys = append(keys, k)
				for _, nv := range nrptRuleValues(d, servers) {
					changes = append(changes, regChange{k, nv.name, nv.v})
				}
			}
		}
	case "full":
		for _, fam := range []struct {
			base string
			self []string
		}{{TcpipIfKey, v4}, {Tcpip6IfKey, v6}} {
			if len(fam.self) == 0 {
				continue
			}
			ifs, err := w.interfaces(fam.base)
			if err != nil {
				return nil, nil, false, err
			}
			for _, ifc := range ifs {
				servers := append(append([]string{}, fam.self...), withoutAddrs(ifc.servers(), fam.self)...)
				changes = append(changes, regChange{ifc.key, "NameServer", SZ(strings.Join(servers, ","))})
			}
		}
		if len(changes) == 0 {
			return nil, nil, false, errors.New("no connected network interface has DNS servers; connect to a network, then activate again")
		}
	default:
		return nil, nil, false, fmt.Errorf("activation mode %q is not scoped or full", p.Mode)
	}
	return keys, changes, gp, nil
}

// foreignGPRules reports whether Group Policy holds NRPT rules that are not
// dnspin's: then Windows reads only the policy key, and ours must go there too.
func (w *windowsDNS) foreignGPRules(domains []string) (bool, error) {
	subs, err := w.reg.SubKeys(nrptGPKey)
	if err != nil {
		return false, err
	}
	ours := map[string]bool{}
	for _, d := range domains {
		ours[strings.ToLower(nrptRuleID(d))] = true
	}
	for _, s := range subs {
		if !ours[strings.ToLower(s)] {
			return true, nil
		}
	}
	return false, nil
}

// winIf is one interface's DNS settings.
type winIf struct {
	key           string
	staticServers []string // NameServer
	dhcpServers   []string // DhcpNameServer
}

func (i winIf) servers() []string {
	if len(i.staticServers) > 0 {
		return i.staticServers
	}
	return i.dhcpServers
}

func (i winIf) source() string {
	if len(i.staticServers) > 0 {
		return "static"
	}
	return "dhcp"
}

// splitServers splits a NameServer value: Windows writes commas, older
// versions spaces.
func splitServers(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' })
}

func withoutAddrs(list, drop []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(drop, s) {
			out = append(out, s)
		}
	}
	return out
}

// interfaces lists the interfaces under base that have DNS servers (static
// or from DHCP), sorted by key so transcripts are stable.
func (w *windowsDNS) interfaces(base string) ([]winIf, error) {
	subs, err := w.reg.SubKeys(base)
	if err != nil {
		return nil, err
	}
	slices.Sort(subs)
	var out []winIf
	for _, s := range subs {
		i := winIf{key: base + `\` + s}
		st, ok, err := w.reg.GetValue(i.key, "NameServer")
		if err != nil {
			return nil, err
		}
		if ok {
			i.staticServers = splitServers(st.String)
		}
		dh, ok, err := w.reg.GetValue(i.key, "DhcpNameServer")
		if err != nil {
			return nil, err
		}
		if ok {
			i.dhcpServers = splitServers(dh.String)
		}
		if len(i.servers()) > 0 {
			out = append(out, i)
		}
	}
	return out, nil
}

// windowsResolvers returns the DNS servers Windows uses now, in interface
// order, without duplicates.
func windowsResolvers(reg Registry) ([]string, error) {
	ifs, err := (&windowsDNS{reg: reg}).allInterfaces()
	if err != nil {
		return nil, err
	}
	return resolversOf(ifs), nil
}

// resolversOf returns the servers of ifs in order, without duplicates.
func resolversOf(ifs []winIf) []string {
	var ns []string
	for _, i := range ifs {
		for _, s := range i.servers() {
			if !slices.Contains(ns, s) {
				ns = append(ns, s)
			}
		}
	}
	return ns
}

// allInterfaces lists the IPv4 then the IPv6 interfaces that have DNS servers.
func (w *windowsDNS) allInterfaces() ([]winIf, error) {
	var all []winIf
	for _, base := range []string{TcpipIfKey, Tcpip6IfKey} {
		ifs, err := w.interfaces(base)
		if err != nil {
			return nil, err
		}
		all = append(all, ifs...)
	}
	return all, nil
}

func (w *windowsDNS) Apply(ctx context.Context, p Plan) error {
	j, err := ReadJournal(w.o.FS, w.o.StateDir)
	if err != nil {
		return err
	}
	if j == nil {
		ns, err := windowsResolvers(w.reg)
		if err != nil {
			return err
		}
		j = &Journal{Backend: backendWindows, Created: w.o.Now().UTC(), Nameservers: ns}
	}
	// The journal's servers are the originals, also on a re-apply.
	keys, changes, gp, err := w.desired(p, j.Nameservers)
	if err != nil {
		return err
	}
	// Record what is there now, for everything not recorded by an earlier
	// apply (whose records hold the true originals).
	want := planSet{}
	for _, k := range keys {
		// The rule's parents too (DnsPolicyConfig is missing on a
		// machine that never had a rule): SetValue creates them, and a
		// restore that left them behind would not be "as it was".
		for _, pk := range regAncestors(k) {
			if _, ok := j.Find(kindRegKey, pk); ok {
				want.add(kindRegKey, pk)
				continue
			}
			ex, err := w.reg.KeyExists(pk)
			if err != nil {
				return err
			}
			if !ex {
				want.add(kindRegKey, pk)
				j.Records = append(j.Records, Record{Kind: kindRegKey, Key: pk, Meta: map[string]string{"parent": "true"}})
			}
		}
		want.add(kindRegKey, k)
		if _, ok := j.Find(kindRegKey, k); ok {
			continue
		}
		ex, err := w.reg.KeyExists(k)
		if err != nil {
			return err
		}
		j.Records = append(j.Records, Record{Kind: kindRegKey, Key: k, Existed: ex})
	}
	for _, c := range changes {
		rk := regRecordKey(c.key, c.name)
		want.add(KindRegValue, rk)
		if _, ok := j.Find(KindRegValue, rk); ok {
			continue
		}
		rec, err := w.recordValue(c.key, c.name)
		if err != nil {
			return err
		}
		j.Records = append(j.Records, rec)
	}
	j.Plan, j.Active, j.Backend = p, true, backendWindows
	if err := WriteJournal(w.o.FS, w.o.StateDir, j); err != nil {
		return err
	}
	for _, c := range changes {
		if cur, ok, err := w.reg.GetValue(c.key, c.name); err == nil && ok && cur.Equal(c.v) {
			continue // already so: applying twice writes nothing
		}
		if err := w.reg.SetValue(c.key, c.name, c.v); err != nil {
			return fmt.Errorf("activate: %w; run `dnspin deactivate` to put back what was changed so far", err)
		}
	}
	stale, err := dropStale(w.o, j, want, w.replay)
	if err != nil {
		return err
	}
	if gp || hasGPRecord(stale) {
		w.refreshPolicy(ctx)
	}
	w.flush(ctx)
	w.o.Logger.Info("DNS activated", "backend", backendWindows, "mode", p.Mode, "changes", len(changes))
	return nil
}

// regAncestors are the keys above key, outermost first, below the hive's
// top-level key (SYSTEM, SOFTWARE), which dnspin never creates or removes.
func regAncestors(key string) []string {
	parts := strings.Split(key, `\`)
	var out []string
	for i := 2; i < len(parts); i++ {
		out = append(out, strings.Join(parts[:i], `\`))
	}
	return out
}

func (w *windowsDNS) recordValue(key, name string) (Record, error) {
	rec := Record{Kind: KindRegValue, Key: regRecordKey(key, name), Meta: map[string]string{"key": key, "value": name}}
	v, ok, err := w.reg.GetValue(key, name)
	if err != nil {
		return rec, err
	}
	if ok {
		b, err := json.Marshal(v)
		if err != nil {
			return rec, err
		}
		rec.Existed, rec.Data = true, b
	}
	if strings.HasPrefix(key, TcpipIfKey) || strings.HasPrefix(key, Tcpip6IfKey) {
		// For readers of the journal: how this interface got its DNS.
		src := "dhcp"
		if ok && len(splitServers(v.String)) > 0 {
			src = "static"
		}
		rec.Meta["source"] = src
	}
	return rec, nil
}

func hasGPRecord(rs []Record) bool {
	for _, r := range rs {
		if strings.HasPrefix(r.Key, nrptGPKey) {
			return true
		}
	}
	return false
}

// replay puts back records in reverse order: values first, then the keys
// dnspin created. It goes on after a failure so as much as possible is put
// back, and returns all failures.
func (w *windowsDNS) replay(rs []Record) error {
	var errs []error
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		switch r.Kind {
		case KindRegValue:
			key, name := r.Meta["key"], r.Meta["value"]
			if !r.Existed {
				if err := w.reg.DeleteValue(key, name); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			var v RegValue
			if err := json.Unmarshal(r.Data, &v); err != nil {
				errs = append(errs, fmt.Errorf("journal record %s is damaged: %w", r.Key, err))
				continue
			}
			if ok, err := w.reg.KeyExists(key); err != nil || !ok {
				// The adapter was removed since: nothing to put back.
				w.o.Logger.Info("restore: registry key is gone, skipping", "key", HKLM(key))
				continue
			}
			if err := w.reg.SetValue(key, name, v); err != nil {
				errs = append(errs, err)
			}
		case kindRegKey:
			if !r.Existed && r.Meta["parent"] != "" {
				// A parent dnspin created: only if nothing else was put
				// under it since (another program's NRPT rule).
				if subs, err := w.reg.SubKeys(r.Key); err != nil || len(subs) > 0 {
					w.o.Logger.Info("restore: keeping a key dnspin created, something else is in it now", "key", HKLM(r.Key))
					continue
				}
			}
			if !r.Existed {
				if err := w.reg.DeleteKey(r.Key); err != nil {
					errs = append(errs, err)
				}
			}
		default:
			errs = append(errs, fmt.Errorf("journal record kind %q (%s) is not a Windows record: restore it by hand", r.Kind, r.Key))
		}
	}
	return errors.Join(errs...)
}

func (w *windowsDNS) Restore(ctx context.Context) error {
	// No journal, but NRPT rules survive a crash: remove any rule that
	// carries our marker (a journal lost with its disk, for example).
	return restoreJournal(w.o, backendWindows, w.replay, func() error { return w.removeLeftoverRules(ctx) }, func(j *Journal) {
		if hasGPRecord(j.Records) {
			w.refreshPolicy(ctx)
		}
		w.flush(ctx)
	})
}

func (w *windowsDNS) removeLeftoverRules(ctx context.Context) error {
	removed := 0
	for _, base := range []string{NRPTLocalKey, nrptGPKey} {
		subs, err := w.reg.SubKeys(base)
		if err != nil {
			return err
		}
		slices.Sort(subs)
		for _, s := range subs {
			k := base + `\` + s
			v, ok, err := w.reg.GetValue(k, nrptComment)
			if err != nil {
				return err
			}
			if ok && v.String == nrptCommentText {
				if err := w.reg.DeleteKey(k); err != nil {
					return err
				}
				removed++
			}
		}
	}
	if removed > 0 {
		w.o.Logger.Info("removed leftover dnspin NRPT rules", "rules", removed)
		w.flush(ctx)
	}
	return nil
}

func (w *windowsDNS) Current(ctx context.Context) (Snapshot, error) {
	s := Snapshot{Backend: backendWindows}
	ifs, err := w.allInterfaces()
	if err != nil {
		return s, err
	}
	s.Nameservers = resolversOf(ifs)
	for _, base := range []string{NRPTLocalKey, nrptGPKey} {
		subs, err := w.reg.SubKeys(base)
		if err != nil {
			return s, err
		}
		slices.Sort(subs)
		for _, sub := range subs {
			k := base + `\` + sub
			name, _, _ := w.reg.GetValue(k, nrptName)
			srv, _, _ := w.reg.GetValue(k, nrptServers)
			c, _, _ := w.reg.GetValue(k, nrptComment)
			ours := c.String == nrptCommentText
			s.Activated = s.Activated || ours
			s.Notes = append(s.Notes, fmt.Sprintf("NRPT rule %s: %s -> %s (dnspin: %v)", HKLM(k), strings.Join(name.Strings, " "), srv.String, ours))
		}
	}
	for _, i := range ifs {
		srv := i.servers()
		s.Activated = s.Activated || pointsAtLoopback(srv)
		s.Notes = append(s.Notes, fmt.Sprintf("interface %s: %s DNS %s", HKLM(i.key), i.source(), strings.Join(srv, ",")))
	}
	return s, nil
}

// flush empties the DNS client's cache so answers cached before the change
// are not used. A failure is logged, not fatal: the settings are in place.
func (w *windowsDNS) flush(ctx context.Context) {
	if out, err := w.o.Run(ctx, "ipconfig", "/flushdns"); err != nil {
		w.o.Logger.Warn("ipconfig /flushdns failed", "err", err, "output", strings.TrimSpace(string(out)))
	}
}

// refreshPolicy makes Windows re-read the Group Policy NRPT key.
func (w *windowsDNS) refreshPolicy(ctx context.Context) {
	if out, err := w.o.Run(ctx, "gpupdate", "/target:computer", "/force"); err != nil {
		w.o.Logger.Warn("gpupdate failed; the NRPT change takes effect at the next policy refresh", "err", err, "output", strings.TrimSpace(string(out)))
	}
}
