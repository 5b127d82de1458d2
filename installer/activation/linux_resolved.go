package activation

import (
	"bufio"
	"bytes"
	"context"
	"net/netip"
	"slices"
	"strings"
)

// Files of the systemd-resolved backend.
const (
	// ResolvedDropIn is dnspin's systemd-resolved drop-in.
	ResolvedDropIn = "/etc/systemd/resolved.conf.d/dnspin.conf"
	// ResolvedUplink lists the servers systemd-resolved itself uses.
	ResolvedUplink = "/run/systemd/resolve/resolv.conf"
)

// resolvedBackend adds a drop-in to /etc/systemd/resolved.conf.d and
// reloads systemd-resolved. It is the one Linux backend that can send
// single domains to dnspin (scoped), and the one whose fallback servers
// change without its file changing (the network's servers behind resolved).
type resolvedBackend struct {
	fs  ExtFS
	run Runner
}

var _ linuxBackend = resolvedBackend{}

func (resolvedBackend) name() Backend                          { return BackendResolved }
func (resolvedBackend) files() []string                        { return []string{ResolvedDropIn} }
func (resolvedBackend) relearn(r *Record)                      {}
func (resolvedBackend) scopes() bool                           { return true }
func (resolvedBackend) liveServers() bool                      { return true }
func (b resolvedBackend) learn(ctx context.Context, r *Record) { b.recordGlobals(ctx, r) }

func (resolvedBackend) reload() [][]string {
	return [][]string{
		{"systemctl", "try-reload-or-restart", "systemd-resolved.service"},
		{"resolvectl", "flush-caches"},
	}
}

// originals are the global servers an administrator configured (recorded
// at activation: the drop-in hides them while active) and the per-link
// servers resolved uses now.
func (b resolvedBackend) originals(ctx context.Context, j *Journal) []string {
	var ns []string
	if r, ok := j.Find("file", ResolvedDropIn); ok {
		ns = strings.Fields(r.Meta["global_dns"])
	}
	return dedupe(append(ns, b.linkServers(ctx)...))
}

func (resolvedBackend) desired(j *Journal, r Record) ([]byte, error) {
	return resolvedDropIn(j.Plan, j.Nameservers, strings.Fields(r.Meta["global_domains"])), nil
}

func (b resolvedBackend) snapshot(j *Journal, s *Snapshot) {
	if d, err := b.fs.ReadFile(ResolvedDropIn); err == nil {
		s.Files[ResolvedDropIn] = string(d)
	}
	if j != nil && j.Plan.Mode == "scoped" {
		s.Notes = append(s.Notes, "systemd-resolved sends the platform's domains to dnspin first (if dnspin stops, it moves on to the original servers listed after it). It treats global servers as a default route, so other names may also be asked of dnspin, in parallel with the network's servers; the first answer wins.")
	}
}

// linkServers are the per-link servers systemd-resolved uses
// (`resolvectl dns`), or, if that fails, its uplink list without loopback
// addresses (dnspin's own and resolved's stub).
func (b resolvedBackend) linkServers(ctx context.Context) []string {
	if out, err := b.run(ctx, "resolvectl", "--no-pager", "dns"); err == nil {
		_, links := parseResolvectl(out)
		if len(links) > 0 {
			return links
		}
	}
	up, _ := b.fs.ReadFile(ResolvedUplink)
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

// recordGlobals keeps the global servers and domains an
// administrator configured, which dnspin's drop-in replaces while active
// (it resets DNS= and Domains= so that dnspin comes first), so the drop-in
// can list them after dnspin's own.
func (b resolvedBackend) recordGlobals(ctx context.Context, r *Record) {
	if r.Meta == nil {
		r.Meta = map[string]string{}
	}
	if out, err := b.run(ctx, "resolvectl", "--no-pager", "dns"); err == nil {
		g, _ := parseResolvectl(out)
		r.Meta["global_dns"] = strings.Join(g, " ")
	}
	if out, err := b.run(ctx, "resolvectl", "--no-pager", "domain"); err == nil {
		g, _ := parseResolvectl(out)
		r.Meta["global_domains"] = strings.Join(g, " ")
	}
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
