// Package resolvertest is a test kit in the style of net/http/httptest: a
// real miekg/dns upstream on loopback whose behaviour a test switches at
// run time, and a helper that starts a real resolver and stops it when the
// test ends. Tests of packages built on the resolver (bundles, pin
// verification, end-to-end) use it instead of each keeping a copy.
//
// The resolver's own tests cannot import it (it imports the resolver); they
// keep their richer upstream in resolver/helpers_test.go.
package resolvertest

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/resolver"
)

// Mode is how an Upstream answers.
type Mode int32

const (
	// Answer answers from the configured addresses.
	Answer Mode = iota
	// Drop answers nothing, like a server under a denial-of-service attack.
	Drop
	// ServFail answers every query SERVFAIL.
	ServFail
)

// UpstreamConfig says where an Upstream listens and what it answers.
type UpstreamConfig struct {
	// Listen is the UDP address to serve on; "" is 127.0.0.1:0.
	Listen string
	// Answers maps a name (no trailing dot, matched without regard to case)
	// to the IPv4 address its A query answers.
	Answers map[string]string
	// Default, when not "", answers A queries for names not in Answers;
	// when "", those names are NXDOMAIN.
	Default string
	// TTL of the A records; 0 makes the resolver ask again every time.
	TTL uint32
}

// Upstream is a real miekg/dns server over UDP. Queries for known names
// other than A get an empty NOERROR answer.
type Upstream struct {
	// Addr is the address it listens on, host:port.
	Addr    string
	cfg     UpstreamConfig
	mode    atomic.Int32
	queries atomic.Int64
	srv     *dns.Server
}

// StartUpstream starts an Upstream in mode Answer and shuts it down when the
// test ends.
func StartUpstream(t testing.TB, c UpstreamConfig) *Upstream {
	t.Helper()
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	u := &Upstream{cfg: c}
	pc, err := net.ListenPacket("udp", c.Listen)
	if err != nil {
		t.Fatalf("fake upstream: listen on %s: %v", c.Listen, err)
	}
	u.Addr = pc.LocalAddr().String()
	started := make(chan struct{})
	u.srv = &dns.Server{PacketConn: pc, Handler: u, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = u.srv.ActivateAndServe() }()
	<-started
	t.Cleanup(u.Close)
	return u
}

// Close shuts the upstream down before the test ends: its port is closed,
// so the kernel answers further queries with ICMP port unreachable, as for
// a dead server. Closing twice is harmless.
func (u *Upstream) Close() { _ = u.srv.Shutdown() }

// SetMode switches how the upstream answers from the next query on.
func (u *Upstream) SetMode(m Mode) { u.mode.Store(int32(m)) }

// Queries is how many queries the upstream has received since it started
// or since ResetQueries, answered or not.
func (u *Upstream) Queries() int64 { return u.queries.Load() }

// ResetQueries sets the count Queries reports back to 0.
func (u *Upstream) ResetQueries() { u.queries.Store(0) }

// ServeDNS answers one query according to the mode.
func (u *Upstream) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	u.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(q)
	switch Mode(u.mode.Load()) {
	case Drop:
		return
	case ServFail:
		m.Rcode = dns.RcodeServerFailure
		_ = w.WriteMsg(m)
		return
	}
	if len(q.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	qq := q.Question[0]
	ip, ok := u.lookup(qq.Name)
	switch {
	case !ok:
		m.Rcode = dns.RcodeNameError
	case qq.Qtype == dns.TypeA:
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: u.cfg.TTL}, A: net.ParseIP(ip)}}
	}
	_ = w.WriteMsg(m)
}

func (u *Upstream) lookup(name string) (string, bool) {
	name = strings.TrimSuffix(name, ".")
	for k, v := range u.cfg.Answers {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return u.cfg.Default, u.cfg.Default != ""
}

// Start starts a resolver with cfg and o, shuts it down when the test ends,
// and returns it with the first address it answers on (the port chosen when
// cfg listens on port 0).
func Start(t testing.TB, cfg resolver.Config, o resolver.Options) (*resolver.Resolver, string) {
	t.Helper()
	r, err := resolver.New(cfg, o)
	if err != nil {
		t.Fatalf("resolver.New: %v", err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("resolver start on %v: %v", cfg.Listen, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	})
	return r, r.Addrs()[0]
}

// AskA sends one A query for name to server over UDP and returns the
// answer's addresses in answer order, joined by "," ("" for none). It
// fails the test when no answer comes within a minute (generous for a
// loaded machine; nothing here measures time).
func AskA(t testing.TB, server, name string) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	in, _, err := (&dns.Client{Timeout: time.Minute}).Exchange(m, server)
	if err != nil {
		t.Fatalf("ask %s for %s: %v", server, name, err)
	}
	var out []string
	for _, rr := range in.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return strings.Join(out, ",")
}
