// Package control is dnspin's local control API: versioned HTTP/JSON on a
// Unix socket or a Windows named pipe, never a TCP port. This file holds the
// wire types shared by the service, the command line and the tray.
package control

import (
	"slices"

	"github.com/dnspin/dnspin/internal/redact"
)

// Status is GET /v1/status and `dnspin status --json` (docs/support.md, "Status JSON").
// Fields may be added, never renamed.
type Status struct {
	Version    string `json:"version"`
	Mode       string `json:"mode"`
	State      string `json:"state"`
	StateSince string `json:"state_since"` // RFC 3339
	// StateReason says why the state last changed, e.g. "upstream
	// 192.0.2.53:53 timed out" (added after the first fields).
	StateReason string     `json:"state_reason,omitempty"`
	Activation  string     `json:"activation"`
	Activated   bool       `json:"activated"`
	Listen      []string   `json:"listen"`
	Upstreams   []Upstream `json:"upstreams"`
	Platform    Platform   `json:"platform"`
	Answers     Answers    `json:"answers"`
	Bundle      *Bundle    `json:"bundle,omitempty"`
	// Unprotected lists protected names that have neither a pin nor a
	// learned answer: in an outage they cannot be answered (tray: red).
	Unprotected []string `json:"unprotected,omitempty"`
	// PinChecks is the last TLS verification of each pinned address (pin
	// verification; absent before the first round or with checks off).
	PinChecks []PinCheck `json:"pin_checks,omitempty"`
	// LearnedChecks is the last TLS verification of each learned address
	// served as a backup (the asked name as SNI; entries as in PinChecks,
	// LeftOut per name and address family). Absent before the first full
	// round, with checks off, or without learned addresses.
	LearnedChecks []PinCheck `json:"learned_checks,omitempty"`
}

// PinCheck is the TLS verification of one pinned address.
type PinCheck struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	State   string `json:"state"`           // "verified", "failed" or "unknown"
	Error   string `json:"error,omitempty"` // why it failed
	Time    string `json:"time,omitempty"`  // RFC 3339, when the check ended
	// LeftOut: failed while another address of the name verified, so
	// backup answers leave it out.
	LeftOut bool `json:"left_out,omitempty"`
}

// Upstream is one upstream server's health as the resolver sees it.
type Upstream struct {
	Address string  `json:"address"`
	Healthy bool    `json:"healthy"`
	RTTMs   float64 `json:"rtt_ms"`
}

// Platform summarises the protected names.
type Platform struct {
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
	Pins    int      `json:"pins"`
	Learned int      `json:"learned"`
	// Verification sums up PinChecks: "verified" when every checked pin
	// has a verified address, "not_verified" when one has none; "" before
	// the first check or with checks off.
	Verification string `json:"verification,omitempty"`
}

// Answers counts answers by source since start.
type Answers struct {
	Upstream uint64 `json:"upstream"`
	Cache    uint64 `json:"cache"`
	Stale    uint64 `json:"stale"`
	Pinned   uint64 `json:"pinned"`
	Learned  uint64 `json:"learned"`
	Servfail uint64 `json:"servfail"`
}

// Bundle describes the signed pin bundle in use (issue: signed pin bundles).
type Bundle struct {
	Serial    uint64 `json:"serial"`
	Issued    string `json:"issued,omitempty"`  // RFC 3339
	Expires   string `json:"expires,omitempty"` // RFC 3339
	Pins      int    `json:"pins"`
	LastFetch string `json:"last_fetch,omitempty"` // RFC 3339, last attempt
	LastError string `json:"last_error,omitempty"`
	// Added by the bundle fetcher.
	LastOK  string   `json:"last_ok,omitempty"` // RFC 3339, last round that got an accepted or unchanged bundle
	Source  string   `json:"source,omitempty"`  // mirror URL the bundle in use came from
	Expired bool     `json:"expired,omitempty"` // the bundle in use expired; its pins are withdrawn
	Dropped []string `json:"dropped,omitempty"` // pin names rejected: outside the platform's domains
	// Added with CA and SPKI pins in bundles: how many of each the bundle
	// in use carries (they replace the config's platform.verify_ca and
	// verify_spki while it is in use).
	VerifyCA   int `json:"verify_ca,omitempty"`
	VerifySPKI int `json:"verify_spki,omitempty"`
}

// CheckReport is POST /v1/check and `dnspin check --json`.
type CheckReport struct {
	Time    string        `json:"time"` // RFC 3339
	OK      bool          `json:"ok"`   // every result OK
	Results []CheckResult `json:"results"`
}

// CheckResult is one diagnostic, phrased for a support person.
type CheckResult struct {
	Name   string `json:"name"`   // stable id, e.g. "system-uses-dnspin", "resolve:shop.tickets.example", "reach:192.0.2.10:443"
	OK     bool   `json:"ok"`     //
	Detail string `json:"detail"` // one plain-language sentence
}

// Redacted returns a deep copy of s with every text field passed through
// internal/redact: the status leaves the process (the control API, status
// --json, reports) and every local user may read it, while errors such as
// Bundle.LastError quote mirror URLs that may carry credentials. Add new
// string fields here too (TestStatusRedactedCoversEveryField notices).
func (s Status) Redacted() Status {
	str := redact.String
	list := func(l []string) []string {
		if l == nil {
			return nil
		}
		out := make([]string, len(l))
		for i, v := range l {
			out[i] = str(v)
		}
		return out
	}
	s.Version, s.Mode, s.State, s.StateSince = str(s.Version), str(s.Mode), str(s.State), str(s.StateSince)
	s.StateReason, s.Activation = str(s.StateReason), str(s.Activation)
	s.Listen = list(s.Listen)
	s.Upstreams = slices.Clone(s.Upstreams)
	for i := range s.Upstreams {
		s.Upstreams[i].Address = str(s.Upstreams[i].Address)
	}
	s.Platform.Name, s.Platform.Domains = str(s.Platform.Name), list(s.Platform.Domains)
	if s.Bundle != nil {
		b := *s.Bundle
		b.Issued, b.Expires, b.LastFetch, b.LastOK = str(b.Issued), str(b.Expires), str(b.LastFetch), str(b.LastOK)
		b.LastError, b.Source, b.Dropped = str(b.LastError), str(b.Source), list(b.Dropped)
		s.Bundle = &b
	}
	s.Unprotected = list(s.Unprotected)
	s.Platform.Verification = str(s.Platform.Verification)
	checks := func(l []PinCheck) []PinCheck {
		if l == nil {
			return nil
		}
		l = slices.Clone(l)
		for i := range l {
			c := &l[i]
			c.Name, c.Address, c.State, c.Error, c.Time = str(c.Name), str(c.Address), str(c.State), str(c.Error), str(c.Time)
		}
		return l
	}
	s.PinChecks, s.LearnedChecks = checks(s.PinChecks), checks(s.LearnedChecks)
	return s
}

// Redacted returns a copy of c with every detail redacted (see
// Status.Redacted): checks quote addresses and errors.
func (c CheckReport) Redacted() CheckReport {
	c.Results = slices.Clone(c.Results)
	for i := range c.Results {
		c.Results[i].Name, c.Results[i].Detail = redact.String(c.Results[i].Name), redact.String(c.Results[i].Detail)
	}
	return c
}
