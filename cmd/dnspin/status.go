package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dnspin/dnspin/internal/control"
)

var cmdStatus = command{
	name:    "status",
	args:    "[--json]",
	summary: "show the running service's state (first line: summary to read out to support)",
	run: func(ctx context.Context, e *env, args []string) error {
		fs, cfg := flagSet(e)
		asJSON := fs.Bool("json", false, "print the status as JSON (fields may be added, never renamed; docs/support.md \"Status JSON\" lists them)")
		if err := parseNoArgs(fs, args); err != nil {
			return err
		}
		c, err := controlClient(*cfg)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		st, err := c.Status(ctx)
		if err != nil {
			return notRunning(err, c, *cfg)
		}
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}
		printStatus(e.stdout, st)
		return nil
	},
}

// printStatus writes the summary line, then the details a support person
// asks for next.
func printStatus(w io.Writer, s control.Status) {
	fmt.Fprintln(w, control.Summary(s))
	fmt.Fprintln(w)
	row := func(label, format string, a ...any) {
		if label != "" { // "": a continuation line
			label += ":"
		}
		fmt.Fprintf(w, "%-12s %s\n", label, fmt.Sprintf(format, a...))
	}
	row("Mode", "%s", s.Mode)
	if s.StateReason != "" {
		row("State", "%s since %s (%s)", s.State, when(s.StateSince), s.StateReason)
	} else {
		row("State", "%s since %s", s.State, when(s.StateSince))
	}
	if s.Activated {
		row("System DNS", "uses dnspin (activation %s)", s.Activation)
	} else {
		row("System DNS", "does not use dnspin (activation %s; run: dnspin activate)", s.Activation)
	}
	row("Listening", "%s", strings.Join(s.Listen, ", "))
	label := "Upstreams"
	for _, u := range s.Upstreams {
		health := fmt.Sprintf("answers, %.1f ms", u.RTTMs)
		if !u.Healthy {
			health = "NOT answering"
		}
		row(label, "%s  %s", u.Address, health)
		label = ""
	}
	name := s.Platform.Name
	if name == "" {
		name = "(no name)"
	}
	row("Platform", "%s: %s", name, strings.Join(s.Platform.Domains, ", "))
	row("Backup", "%s, %s", count(s.Platform.Pins, "pinned name"), count(s.Platform.Learned, "learned answer"))
	if len(s.Unprotected) > 0 {
		row("No backup", "%s", strings.Join(s.Unprotected, ", "))
	}
	printChecks(row, "Pin checks", s.PinChecks)
	printChecks(row, "Learned checks", s.LearnedChecks)
	if b := s.Bundle; b != nil {
		line := fmt.Sprintf("serial %d, %d pins", b.Serial, b.Pins)
		if b.VerifyCA+b.VerifySPKI > 0 {
			line += fmt.Sprintf(", %d CA certificates and %d SPKI pins for the TLS checks", b.VerifyCA, b.VerifySPKI)
		}
		if b.Expires != "" {
			line += ", expires " + when(b.Expires)
		}
		if b.LastFetch != "" {
			line += ", fetched " + when(b.LastFetch)
		}
		if b.LastError != "" {
			line += ", last error: " + b.LastError
		}
		row("Bundle", "%s", line)
	}
	a := s.Answers
	row("Answers", "upstream %d, cache %d, stale %d, pinned %d, learned %d, servfail %d",
		a.Upstream, a.Cache, a.Stale, a.Pinned, a.Learned, a.Servfail)
}

// printChecks lists TLS checks of backup addresses, one row each.
func printChecks(row func(label, format string, a ...any), label string, checks []control.PinCheck) {
	for _, c := range checks {
		line := fmt.Sprintf("%s %s  %s", c.Name, c.Address, c.State)
		if c.Time != "" {
			line += " at " + when(c.Time)
		}
		if c.LeftOut {
			line += ", left out of backup answers"
		}
		if c.Error != "" {
			line += ": " + c.Error
		}
		row(label, "%s", line)
		label = ""
	}
}

// when shows an RFC 3339 time in UTC, the same on every desktop so support
// and box office read the same thing.
func when(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// count is "1 pinned name", "2 pinned names".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
