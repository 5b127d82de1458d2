package control

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
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
	fmt.Fprintf(&b, "dnspin support report\nCreated: %s\nSystem: %s/%s\nSummary: %s\n\n", t.UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, Summary(st))

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
		section(&b, "Checks", redactedHead(r, c.String(), reportChecksMax))
	}

	cfgTitle := "Configuration (secrets redacted)"
	if in.ConfigPath != "" {
		cfgTitle = "Configuration " + in.ConfigPath + " (secrets redacted)"
	}
	cfg := in.ConfigText
	if cfg == "" {
		cfg = "(not available)"
	}
	section(&b, cfgTitle, redactedHead(r, cfg, reportConfigMax))

	osText := "(not available)"
	if in.OSDNS != nil {
		if j, err := json.MarshalIndent(in.OSDNS, "", "  "); err == nil {
			osText = string(j)
		} else {
			osText = fmt.Sprintf("%+v", in.OSDNS)
		}
	}
	section(&b, "Operating system DNS settings", redactedHead(r, osText, reportOSDNSMax))

	if len(in.Notes) > 0 {
		section(&b, "Notes", redactedHead(r, strings.Join(in.Notes, "\n"), reportNotesMax))
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

// redactedHead redacts s and cuts it to max bytes. Only twice the budget
// is redacted, so huge inputs cost little; redaction happens before the
// final cut so a secret is never split into an unrecognisable half.
func redactedHead(r *redactor, s string, max int) string {
	if len(s) > 2*max {
		s = s[:2*max]
	}
	return headOf(r.redact(s), max)
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
	if n := len(s.Unprotected); n > 0 {
		if n == 1 {
			parts = append(parts, "1 platform name has no backup address")
		} else {
			parts = append(parts, fmt.Sprintf("%d platform names have no backup address", n))
		}
	}
	return strings.Join(parts, " · ")
}

// Redaction patterns. Compiled per report: reports are rare and this
// keeps the package free of global state. Keys and blobs are found by
// hand-written scanners: as regular expressions they cost ~1.5 µs a byte.
type redactor struct {
	pem, url *regexp.Regexp
}

func newRedactor() *redactor {
	return &redactor{
		pem: regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----`),
		// scheme://[userinfo@]host/path[?query][#fragment]
		url: regexp.MustCompile(`\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^\s/?#"'@<>]*@)?([^\s?#"'<>]*)(\?[^\s#"'<>]*)?(#[^\s"'<>]*)?`),
	}
}

// Redact removes secret-looking material from text meant for a support
// report: PEM blocks, URL credentials, query strings and fragments, values
// of secret-looking keys (replaced by a short hash so two reports can be
// compared), and long base64/hex runs.
func Redact(s string) string { return newRedactor().redact(s) }

func (r *redactor) redact(s string) string {
	if strings.Contains(s, "-----BEGIN ") {
		s = r.pem.ReplaceAllString(s, "[redacted key block]")
	}
	if strings.Contains(s, "://") {
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
	}
	return redactBlobs(redactKeyValues(s))
}

// secretWords mark a key whose value is secret: "public_key", "api_token",
// "password", "Authorization", ...
func secretWords() []string {
	return []string{"key", "secret", "token", "passw", "pwd", "credential", "auth", "private", "signature", "cookie", "seed"}
}

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// redactKeyValues replaces the value in `key = value`, `key: value`,
// `"key": "value"` and `key=value` (slog) when key contains a secret word.
// Values may be bare, "quoted" (with escapes), 'quoted' or a [list].
func redactKeyValues(s string) string {
	lb := []byte(s)
	for i, c := range lb { // ASCII only, so offsets stay the same
		if c >= 'A' && c <= 'Z' {
			lb[i] = c + 'a' - 'A'
		}
	}
	low := string(lb)
	words := secretWords()
	next := make([]int, len(words)) // cached next occurrence per word
	for k := range next {
		next[k] = -2
	}
	var out strings.Builder
	last := 0
	for i := 0; i < len(s); {
		j, wl := -1, 0
		for k, w := range words {
			if next[k] != -1 && next[k] < i {
				if n := strings.Index(low[i:], w); n >= 0 {
					next[k] = i + n
				} else {
					next[k] = -1
				}
			}
			if next[k] >= 0 && (j < 0 || next[k] < j) {
				j, wl = next[k], len(w)
			}
		}
		if j < 0 {
			break
		}
		ke := j + wl
		for ke < len(s) && isKeyChar(low[ke]) {
			ke++
		}
		i = ke
		p := ke
		if p < len(s) && s[p] == '"' {
			p++
		}
		for p < len(s) && (s[p] == ' ' || s[p] == '\t') {
			p++
		}
		if p >= len(s) || (s[p] != '=' && s[p] != ':') {
			continue
		}
		p++
		for p < len(s) && (s[p] == ' ' || s[p] == '\t') {
			p++
		}
		ve := valueEnd(s, p)
		v := strings.Trim(s[p:ve], `"'`)
		if v == "" || v == "[]" || strings.HasPrefix(v, "[redacted") || strings.HasPrefix(v, "//") {
			continue
		}
		sum := sha256.Sum256([]byte(v))
		out.WriteString(s[last:p])
		out.WriteString(`"[redacted, sha256 ` + hex.EncodeToString(sum[:4]) + `]"`)
		last, i = ve, ve
	}
	if last == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

// valueEnd returns where the value starting at p ends.
func valueEnd(s string, p int) int {
	if p >= len(s) {
		return p
	}
	switch s[p] {
	case '"':
		for q := p + 1; q < len(s); q++ {
			switch s[q] {
			case '\\':
				q++
			case '"':
				return q + 1
			case '\n':
				return q
			}
		}
		return len(s)
	case '\'':
		if q := strings.IndexAny(s[p+1:], "'\n"); q >= 0 {
			if s[p+1+q] == '\'' {
				return p + q + 2
			}
			return p + 1 + q
		}
		return len(s)
	case '[':
		if q := strings.IndexByte(s[p:], ']'); q >= 0 {
			return p + q + 1
		}
		return len(s)
	}
	q := p
	for q < len(s) && !strings.ContainsRune(" \t\r\n,}]", rune(s[q])) {
		q++
	}
	return q
}

func isBlobChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '+' || c == '/' || c == '=' || c == '_' || c == '-'
}

// redactBlobs replaces runs of 40 or more base64/hex characters that look
// like key material (contain a digit, are not paths) with [redacted].
func redactBlobs(s string) string {
	var out strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !isBlobChar(s[i]) {
			i++
			continue
		}
		j, digits, slashes := i, false, 0
		for ; j < len(s) && isBlobChar(s[j]); j++ {
			switch c := s[j]; {
			case c >= '0' && c <= '9':
				digits = true
			case c == '/':
				slashes++
			}
		}
		if j-i >= 40 && digits && slashes <= 2 {
			out.WriteString(s[last:i])
			out.WriteString("[redacted]")
			last = j
		}
		i = j
	}
	if last == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}
