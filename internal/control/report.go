package control

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
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
	OSDNS      any          // OS DNS snapshot (e.g. installer.Snapshot), as JSON
	Check      *CheckReport // nil: the server runs Backend.Check for the report
	Notes      []string     // anything else worth knowing, e.g. errors gathering the above
}

// ReportFileName is the default file name for a report made at now.
func ReportFileName(now time.Time) string {
	return "dnspin-report-" + now.Format("20060102-150405") + ".txt"
}

// BuildReport renders a plain-text support report of at most
// ReportMaxBytes. Config, log, OS snapshot, checks and notes are redacted
// (secret-looking keys, URL credentials and query strings, key material);
// status is not, it holds nothing secret. When the log does not fit, the
// oldest lines go first.
func BuildReport(in ReportInputs, st Status) []byte {
	var b strings.Builder
	r := newRedactor()
	t := in.Time
	if t.IsZero() {
		t = time.Now()
	}
	fmt.Fprintf(&b, "dnspin support report\nCreated: %s\nSummary: %s\n\n", t.UTC().Format(time.RFC3339), Summary(st))

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
		section(&b, "Checks", headOf(r.redact(c.String()), reportChecksMax))
	}

	cfgTitle := "Configuration (secrets redacted)"
	if in.ConfigPath != "" {
		cfgTitle = "Configuration " + in.ConfigPath + " (secrets redacted)"
	}
	cfg := in.ConfigText
	if cfg == "" {
		cfg = "(not available)"
	}
	section(&b, cfgTitle, headOf(r.redact(cfg), reportConfigMax))

	osText := "(not available)"
	if in.OSDNS != nil {
		if j, err := json.MarshalIndent(in.OSDNS, "", "  "); err == nil {
			osText = string(j)
		} else {
			osText = fmt.Sprintf("%+v", in.OSDNS)
		}
	}
	section(&b, "Operating system DNS settings", headOf(r.redact(osText), reportOSDNSMax))

	if len(in.Notes) > 0 {
		section(&b, "Notes", headOf(r.redact(strings.Join(in.Notes, "\n")), reportNotesMax))
	}

	// The log takes the rest: newest lines that fit.
	room := ReportMaxBytes - b.Len() - len(reportTrailer) - 200
	lines := make([]string, 0, len(in.LogLines))
	used, dropped := 0, 0
	for i := len(in.LogLines) - 1; i >= 0; i-- {
		l := r.redact(strings.TrimRight(in.LogLines[i], "\n"))
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
	if len(in.LogLines) == 0 {
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
	var state string
	switch s.State {
	case "normal":
		state = "OK, internet DNS works"
	case "degraded":
		state = "DEGRADED, internet DNS is slow or failing; backup addresses are used where needed"
	case "outage":
		state = "OUTAGE, internet DNS is down; the platform is answered from backup addresses"
	case "recovering":
		state = "RECOVERING, internet DNS answers again; checking before switching back"
	default:
		state = "state " + s.State
	}
	if t, err := time.Parse(time.RFC3339, s.StateSince); err == nil {
		state += " (since " + t.UTC().Format("2006-01-02 15:04 UTC") + ")"
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
	if n := len(s.Unprotected); n > 0 {
		parts = append(parts, fmt.Sprintf("%d platform names have no backup address", n))
	}
	return strings.Join(parts, " · ")
}

// Redaction patterns. Compiled per call: reports are rare and this keeps
// the package free of global state.
type redactor struct {
	pem, url, kv, blob *regexp.Regexp
}

func newRedactor() *redactor {
	return &redactor{
		pem: regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----`),
		// scheme://[userinfo@]host/path[?query][#fragment]
		url: regexp.MustCompile(`\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^\s/?#"'@<>]*@)?([^\s?#"'<>]*)(\?[^\s#"'<>]*)?(#[^\s"'<>]*)?`),
		// key = value, key: value, "key": "value", key=value (slog) where
		// the key looks like it names a secret.
		kv: regexp.MustCompile(`(?i)("?[a-z0-9_.-]*(?:key|secret|token|passw(?:or)?d|pwd|credential|auth|private|signature|cookie|seed)[a-z0-9_.-]*"?\s*[=:]\s*)("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|\[[^\]]*\]|[^\s,}\]]+)`),
		// Long key- or token-like runs of base64/hex characters.
		blob: regexp.MustCompile(`[A-Za-z0-9+/=_-]{40,}`),
	}
}

// Redact removes secret-looking material from text meant for a support
// report: PEM blocks, URL credentials, query strings and fragments, values
// of secret-looking keys (replaced by a short hash so two reports can be
// compared), and long base64/hex runs.
func Redact(s string) string { return newRedactor().redact(s) }

func (r *redactor) redact(s string) string {
	s = r.pem.ReplaceAllString(s, "[redacted key block]")
	s = r.url.ReplaceAllStringFunc(s, func(m string) string {
		g := r.url.FindStringSubmatch(m)
		out := g[1]
		if g[2] != "" {
			out += "[redacted]@"
		}
		out += g[3]
		if g[4] != "" {
			out += "?[redacted]"
		}
		if g[5] != "" {
			out += "#[redacted]"
		}
		return out
	})
	s = r.kv.ReplaceAllStringFunc(s, func(m string) string {
		g := r.kv.FindStringSubmatch(m)
		v := strings.Trim(g[2], `"'`)
		if v == "" || v == "[]" || strings.HasPrefix(v, "[redacted") {
			return m
		}
		sum := sha256.Sum256([]byte(v))
		return g[1] + `"[redacted, sha256 ` + hex.EncodeToString(sum[:4]) + `]"`
	})
	s = r.blob.ReplaceAllStringFunc(s, func(m string) string {
		// Paths and dotted names are not secrets; key material has digits.
		if strings.Count(m, "/") > 2 || !strings.ContainsAny(m, "0123456789") {
			return m
		}
		return "[redacted]"
	})
	return s
}
