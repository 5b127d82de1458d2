// Package resolver is dnspin's local forwarding DNS resolver: it forwards
// queries to upstream servers, caches answers, and keeps the platform's
// protected names answerable from pins and learned answers while upstream
// DNS fails (docs/architecture.md, "How a query is answered").
//
// The package knows nothing about operating systems: the caller passes the
// upstream addresses, the state directory, the clock and the logger.
package resolver

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/dnspin/dnspin/internal/dnsname"
	"github.com/dnspin/dnspin/internal/mode"
)

// Mode is the operator's choice of how protected names are answered; the
// list lives in internal/mode so the config and the control API check modes
// without linking the resolver.
type Mode = mode.Mode

const (
	ModeAuto        = mode.Auto        // live answers, pins/learned when upstream fails
	ModePinned      = mode.Pinned      // pins/learned at once, never wait on upstream
	ModePassthrough = mode.Passthrough // forward only, no pins or learned answers
)

// ParseMode checks s names a mode.
func ParseMode(s string) (Mode, error) { return mode.Parse(s) }

// State is the health of upstream DNS as the resolver sees it.
type State string

const (
	StateNormal     State = "normal"
	StateDegraded   State = "degraded"
	StateOutage     State = "outage"
	StateRecovering State = "recovering"
)

// Source tells where an answer came from; every answer has exactly one.
type Source string

const (
	SourceUpstream Source = "upstream"
	SourceCache    Source = "cache"
	SourceStale    Source = "stale"
	SourcePinned   Source = "pinned"
	SourceLearned  Source = "learned"
	SourceServfail Source = "servfail"
)

// Pin is a known-good set of addresses for a name (see internal/dnsname,
// which validates pins for the config, bundles and the resolver alike).
type Pin = dnsname.Pin

// Config is everything the resolver needs (internal/config produces it from
// the TOML file). New and Reconfigure fill in defaults for zero values and
// reject what the resolver cannot use.
type Config struct {
	// Listen are the addresses to answer on, UDP and TCP on each; the
	// caller checks and parses them (internal/config does, with messages
	// that name the key).
	Listen      []netip.AddrPort
	AllowRemote bool // permit non-loopback listen addresses
	// AllowClients are the networks, besides loopback, whose queries are
	// answered; every other client gets REFUSED. Required with AllowRemote.
	AllowClients []netip.Prefix
	Upstreams    []string // IP:port, "system" already expanded by the caller
	Domains      []string // protected: these names and all below them
	Pins         []Pin
	Mode         Mode

	AnswerBudget  time.Duration // auto mode: protected query wait before fallback
	ClientTimeout time.Duration // RFC 8767 client response timer, unprotected names
	StaleTTL      time.Duration // TTL on pinned, learned and stale answers
	MaxStale      time.Duration // oldest stale or learned answer still served
	ProbeInterval time.Duration // probes of the platform's DNS while not normal
	RecoverAfter  int           // good probes in a row before normal

	StateDir  string // learned answers persisted here; "" keeps them in memory
	CacheSize int    // max cache entries; 0 means the default
}

// SourceLocal marks answers dnspin gives itself without asking anyone: the
// use-application-dns.net canary, RFC 8482 answers to ANY, refusals of
// other classes and malformed queries.
const SourceLocal Source = "local"

// Snapshot is the resolver's state for status displays (control API, tray).
type Snapshot struct {
	Mode        Mode
	State       State
	StateSince  time.Time
	StateReason string
	Listen      []string
	Upstreams   []UpstreamStatus
	Pins        int // pins in effect (config + bundle)
	Learned     int // names with learned answers
	Answers     map[Source]uint64
	// NoBackup lists protected names asked while upstream was failing (or in
	// pinned mode) that had neither a pin nor a learned answer, newest
	// first: in an outage they cannot be answered.
	NoBackup []string
}

// UpstreamStatus is one upstream server's health as the resolver sees it.
type UpstreamStatus struct {
	Address string
	Healthy bool
	RTT     time.Duration // smoothed round-trip time of good answers
}

// ListenError is returned by Start when an address cannot be bound.
type ListenError struct {
	Addr string // host:port
	Net  string // "udp" or "tcp"
	Err  error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("cannot listen on %s %s: %v", e.Net, e.Addr, unwrapSyscall(e.Err))
}

func (e *ListenError) Unwrap() error { return e.Err }
