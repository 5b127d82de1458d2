package control

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/dnspin/dnspin/internal/redact"
)

// ReportMaxBytes is the hard size cap of a support report: small enough to
// e-mail, large enough for a few thousand log lines.
const ReportMaxBytes = 512 << 10

// Section budgets; the log gets what the others leave.
const (
	reportStatusMax = 32 << 10
	reportChecksMax = 32 << 10
	reportConfigMax = 64 << 10
	reportOSDNSMax  = 128 << 10
	reportNotesMax  = 8 << 10
	reportTrailer   = "== End of report ==\n"
)

// ReportInputs is what the service gathers for a support report.
type ReportInputs struct {
	Time       time.Time    // when; the server fills it if zero
	ConfigPath string       // the config file in use
	ConfigText string       // its text as read (redacted here)
	LogLines   []string     // recent log lines, oldest first (see LogRing)
	OSDNS      any          // OS DNS snapshot (e.g. activation.Snapshot), as JSON
	Check      *CheckReport // nil: the server runs Backend.Check for the report
	Notes      []string     // anything else worth knowing, e.g. errors gathering the above
	// Reduced, when set, says the report leaves out the configuration and
	// the log (the caller is not an administrator) and how to get them.
	Reduced string
}

// ReportFileName is the default file name for a report made at now.
func ReportFileName(now time.Time) string {
	return "dnspin-report-" + now.Format("20060102-150405") + ".txt"
}

// BuildReport renders a plain-text support report of at most
// ReportMaxBytes. Every section is redacted (internal/redact: secret-looking
// keys, URL credentials and query strings, key material). When the log
// does not fit, the oldest lines go first.
func BuildReport(in ReportInputs, st Status) []byte {
	var b strings.Builder
	t := in.Time
	if t.IsZero() {
		t = time.Now()
	}
	st = st.Redacted()
	fmt.Fprintf(&b, "dnspin support report\nCreated: %s\nSystem: %s/%s\nSummary: %s\n\n", t.UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, Summary(st))
	if in.Reduced != "" {
		fmt.Fprintf(&b, "Reduced report: without the configuration and the log; for the full report %s.\n\n", in.Reduced)
	}

	sj, _ := json.MarshalIndent(st, "", "  ")
	section(&b, "Status", headOf(string(sj), reportStatusMax))

	if in.Check == nil {
		section(&b, "Checks", "(not run)")
	} else {
		var c strings.Builder
		fmt.Fprintf(&c, "Run at %s; all passed: %t\n", in.Check.Time, in.Check.OK)
		for _, r := range in.Check.Results {
			mark := "ok  "
			if !r.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(&c, "[%s] %s: %s\n", mark, r.Name, r.Detail)
		}
		section(&b, "Checks", redactedHead(c.String(), reportChecksMax))
	}

	cfgTitle := "Configuration (secrets redacted)"
	if in.ConfigPath != "" {
		cfgTitle = "Configuration " + in.ConfigPath + " (secrets redacted)"
	}
	cfg := in.ConfigText
	switch {
	case in.Reduced != "":
		cfg = "(left out: only an administrator's report has it)"
	case cfg == "":
		cfg = "(not available)"
	}
	section(&b, cfgTitle, redactedHead(cfg, reportConfigMax))

	osText := "(not available)"
	if in.OSDNS != nil {
		if j, err := json.MarshalIndent(in.OSDNS, "", "  "); err == nil {
			osText = string(j)
		} else {
			osText = fmt.Sprintf("%+v", in.OSDNS)
		}
	}
	section(&b, "Operating system DNS settings", redactedHead(osText, reportOSDNSMax))

	if len(in.Notes) > 0 {
		section(&b, "Notes", redactedHead(strings.Join(in.Notes, "\n"), reportNotesMax))
	}

	// The log takes the rest: newest lines that fit.
	room := ReportMaxBytes - b.Len() - len(reportTrailer) - 200
	lines := make([]string, 0, len(in.LogLines))
	used, dropped := 0, 0
	for i := len(in.LogLines) - 1; i >= 0; i-- {
		l := redact.String(strings.TrimRight(in.LogLines[i], "\n"))
		if used+len(l)+1 > room {
			dropped = i + 1
			break
		}
		used += len(l) + 1
		lines = append(lines, l)
	}
	var lb strings.Builder
	if dropped > 0 {
		fmt.Fprintf(&lb, "[%d older lines left out to keep the report under %d KiB]\n", dropped, ReportMaxBytes>>10)
	}
	for i := len(lines) - 1; i >= 0; i-- {
		lb.WriteString(lines[i])
		lb.WriteByte('\n')
	}
	switch {
	case in.Reduced != "":
		lb.WriteString("(left out: only an administrator's report has it)\n")
	case len(in.LogLines) == 0:
		lb.WriteString("(no log lines)\n")
	}
	section(&b, fmt.Sprintf("Recent log (%d lines)", len(lines)), lb.String())
	b.WriteString(reportTrailer)

	out := b.String()
	if len(out) > ReportMaxBytes { // budgets should prevent it; the cap is a promise
		out = headOf(out, ReportMaxBytes-len(reportTrailer)-1) + "\n" + reportTrailer
	}
	return []byte(out)
}

func section(b *strings.Builder, title, body string) {
	fmt.Fprintf(b, "== %s ==\n%s", title, body)
	if !strings.HasSuffix(body, "\n") {
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
}

// redactedHead redacts s and cuts it to max bytes. Only twice the budget
// is redacted, so huge inputs cost little; redaction happens before the
// final cut so a secret is never split into an unrecognisable half.
func redactedHead(s string, max int) string {
	if len(s) > 2*max {
		s = s[:2*max]
	}
	return headOf(redact.String(s), max)
}

// headOf returns s cut to at most max bytes (marker included), on a valid
// UTF-8 boundary.
func headOf(s string, max int) string {
	if len(s) <= max {
		return s
	}
	marker := fmt.Sprintf("\n[... %d bytes left out ...]\n", len(s))
	n := max - len(marker)
	if n < 0 {
		n = 0
	}
	return strings.ToValidUTF8(s[:n], "") + marker
}

// Summary is the one line a support person reads on the phone: state,
// mode, whether the system uses dnspin, upstream health, names without a
// backup address.
func Summary(s Status) string {
	var parts []string
	head := "dnspin"
	if s.Version != "" {
		head += " " + s.Version
	}
	word, why := strings.ToUpper(s.State), ""
	switch s.State {
	case "normal":
		word, why = "OK", "the platform's DNS works"
	case "degraded":
		why = "the platform's DNS is slow or failing, backup addresses are used where needed"
	case "outage":
		why = "the platform's DNS is down, its names are answered from backup addresses"
	case "recovering":
		why = "the platform's DNS answers again, checking before switching back"
	}
	state := word
	if t, err := time.Parse(time.RFC3339, s.StateSince); err == nil {
		state += " since " + t.UTC().Format("2006-01-02 15:04 UTC")
	}
	if why != "" {
		state += ": " + why
	}
	parts = append(parts, head+": "+state)
	switch s.Mode {
	case "pinned":
		parts = append(parts, "mode pinned (backup addresses always)")
	case "passthrough":
		parts = append(parts, "mode passthrough (no backup addresses)")
	default:
		parts = append(parts, "mode "+s.Mode)
	}
	if s.Activated {
		parts = append(parts, "this computer uses dnspin ("+s.Activation+")")
	} else {
		parts = append(parts, "NOT ACTIVE: this computer does not use dnspin (run: dnspin activate)")
	}
	if n := len(s.Upstreams); n > 0 {
		ok := 0
		for _, u := range s.Upstreams {
			if u.Healthy {
				ok++
			}
		}
		parts = append(parts, fmt.Sprintf("%d/%d DNS servers answer", ok, n))
	}
	switch s.Platform.Verification {
	case "verified":
		parts = append(parts, "backup addresses verified by TLS")
	case "not_verified":
		parts = append(parts, "backup addresses NOT verified: a pinned name has no address that passed the TLS check")
	}
	if len(s.LearnedChecks) > 0 {
		ok, served := 0, 0 // verified; failed and still answered
		for _, c := range s.LearnedChecks {
			switch {
			case c.State == "verified":
				ok++
			case c.State == "failed" && !c.LeftOut:
				served++
			}
		}
		part := fmt.Sprintf("learned backup addresses: %d of %d verified by TLS", ok, len(s.LearnedChecks))
		if served > 0 {
			part += fmt.Sprintf(", %d failed and still answered", served)
		}
		parts = append(parts, part)
	}
	if n := len(s.Unprotected); n > 0 {
		if n == 1 {
			parts = append(parts, "1 platform name has no backup address")
		} else {
			parts = append(parts, fmt.Sprintf("%d platform names have no backup address", n))
		}
	}
	return strings.Join(parts, " · ")
}
