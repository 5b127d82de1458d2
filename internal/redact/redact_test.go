package redact

import (
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in   string
		gone, kept []string
	}{
		{"bundle key in TOML", `public_key = "ed25519:c2VjcmV0LWlzaC1rZXktbWF0ZXJpYWwtMTIzNDU2Nzg="`,
			[]string{"c2VjcmV0"}, []string{"public_key = \"[redacted, sha256 "}},
		{"URL credentials and query", `urls = ["https://ops:hunter2@pins.tickets.example/pins.json?token=abc123#frag"]`,
			[]string{"hunter2", "ops:", "abc123", "frag"}, []string{"https://[redacted]@pins.tickets.example/pins.json?[redacted]#[redacted]"}},
		{"plain URL kept", `urls = ["https://pins.tickets.example/pins.json"]`,
			nil, []string{"https://pins.tickets.example/pins.json"}},
		{"slog secret attr", `level=WARN msg="fetch failed" api_token=s3cr3t-value url=http://x.example/a`,
			[]string{"s3cr3t-value"}, []string{"api_token=\"[redacted", "url=http://x.example/a", `msg="fetch failed"`}},
		{"JSON secret", `{"password": "hunter2", "nameservers": ["192.0.2.1"]}`,
			[]string{"hunter2"}, []string{`"password": "[redacted`, `"nameservers": ["192.0.2.1"]`}},
		{"array of keys", `signing_keys = ["AAAA", "BBBB"]`,
			[]string{"AAAA", "BBBB"}, []string{"signing_keys = \"[redacted"}},
		{"PEM block", "x\n-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\ny",
			[]string{"MC4CAQ", "BEGIN PRIVATE"}, []string{"x\n[redacted key block]\ny"}},
		{"long token", `Authorization header was eyJhbGciOiJIUzI1NiJ9eyJzdWIiOiIxMjM0NTY3ODkwIn0abc`,
			[]string{"eyJhbGciOiJIUzI1NiJ9"}, []string{"Authorization header was [redacted]"}},
		{"paths, names, addresses kept", `state_dir = "/var/lib/dnspin/some/rather/long/path/to/learned/answers"
name = "shop.tickets.example"
aaaa = ["2001:db8::10"]
listen = ["127.0.0.1:53", "[::1]:53"]`,
			nil, []string{"/var/lib/dnspin/some/rather/long/path/to/learned/answers", "shop.tickets.example", "2001:db8::10", `"[::1]:53"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := String(tc.in)
			for _, g := range tc.gone {
				if strings.Contains(out, g) {
					t.Errorf("%q still in %q", g, out)
				}
			}
			for _, k := range tc.kept {
				if !strings.Contains(out, k) {
					t.Errorf("%q missing from %q", k, out)
				}
			}
		})
	}
}

// Same secret, same hash: support can compare keys across reports.
func TestRedactHashIsStable(t *testing.T) {
	t.Parallel()
	a := String(`public_key = "ed25519:AAAA"`)
	b := String(`public_key: ed25519:AAAA`)
	c := String(`public_key = "ed25519:BBBB"`)
	ha, hb, hc := a[strings.Index(a, "sha256"):], b[strings.Index(b, "sha256"):], c[strings.Index(c, "sha256"):]
	if ha != hb || ha == hc {
		t.Fatalf("hashes %q %q %q", ha, hb, hc)
	}
}

// Redact never panics, never grows text without bound, and redacting twice
// changes nothing more (what was redacted stays recognisable).
func FuzzString(f *testing.F) {
	for _, s := range []string{
		`public_key = "ed25519:AAAA"`, `x="unterminated`, `key=`, `token: 'a`, `k=[1,2`,
		"https://u:p@h/p?q#f", "-----BEGIN X-----\nabc", strings.Repeat("A1", 30), "päss=wörd key:\"\\\"\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := String(s)
		if len(once) > 2*len(s)+64*strings.Count(s, "=")+64*strings.Count(s, ":")+64 {
			t.Fatalf("grew from %d to %d bytes", len(s), len(once))
		}
		if twice := String(once); twice != once {
			t.Fatalf("not idempotent:\n%q\n%q", once, twice)
		}
	})
}

// Issue 12's example, in every form it takes on the way out.
func TestIssueExample(t *testing.T) {
	t.Parallel()
	const u = "https://alice:hunter2@pins.mirror.example/pins.json?token=SECRET123"
	const want = "https://[redacted]@pins.mirror.example/pins.json?[redacted]"
	for _, in := range []string{u, u + "#frag", "fetch " + u + ": HTTP 503", `urls = ["` + u + `"]`, `{"last_error":"` + u + `"}`} {
		out := String(in)
		if strings.Contains(out, "hunter2") || strings.Contains(out, "SECRET123") || strings.Contains(out, "alice") || strings.Contains(out, "frag") || !strings.Contains(out, want) {
			t.Errorf("String(%q) = %q", in, out)
		}
	}
	if got := Field("url", u); got != want {
		t.Errorf("Field(url) = %q", got)
	}
	if got := Field("api_token", "plain"); !strings.HasPrefix(got, "[redacted, sha256 ") {
		t.Errorf("Field(api_token) = %q", got)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	log := slog.New(Handler(slog.NewTextHandler(&b, nil)))
	log.With("mirror", "https://u:p4ss@m.example/").WithGroup("g").Info("token=abc123 seen", "err", errors.New("https://m.example/x?sig=zz failed"), "list", []string{"a", "b"}, "n", 3, "password", 42)
	out := b.String()
	for _, gone := range []string{"p4ss", "abc123", "sig=zz", "password=42"} {
		if strings.Contains(out, gone) {
			t.Errorf("%q in %s", gone, out)
		}
	}
	for _, kept := range []string{"mirror=https://[redacted]@m.example/", `g.err="https://m.example/x?[redacted] failed"`, `g.list="[a b]"`, "g.n=3", `g.password="[redacted, sha256 `} {
		if !strings.Contains(out, kept) {
			t.Errorf("%q missing from %s", kept, out)
		}
	}
}

// What the log redaction adds to one typical line.
func BenchmarkHandler(b *testing.B) {
	for _, red := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "redacted"}[red], func(b *testing.B) {
			var h slog.Handler = slog.NewTextHandler(discard{}, nil)
			if red {
				h = Handler(h)
			}
			log := slog.New(h)
			for b.Loop() {
				log.Warn("bundle: mirror failed; trying the next one", "url", "https://alice:hunter2@pins.mirror.example/pins.json?token=SECRET123", "err", errors.New("HTTP 503"))
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// refURL is the regular expression redactURLs replaced (it cost ~40 µs a
// line); the scanner must agree with it.
var refURL = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)([^\s/?#"'@<>]*@)?([^\s?#"'<>]*)(\?[^\s#"'<>]*)?(#[^\s"'<>]*)?`)

func refRedactURLs(s string) string {
	return refURL.ReplaceAllStringFunc(s, func(m string) string {
		g := refURL.FindStringSubmatch(m)
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

func FuzzURLsMatchRegexp(f *testing.F) {
	for _, s := range []string{
		"https://alice:hunter2@pins.mirror.example/pins.json?token=SECRET123",
		"a https://u@h b http://x/?q#f c", "://x", "1http://x", "-+.http://x", "x://@", "http://a@b@c/d",
		"see <https://u:p@h/p>", `"https://h/p?q=1"`, "h://?#", "ftp://h#f?g", "é://x http://y\tz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := redactURLs(s), refRedactURLs(s); got != want {
			t.Fatalf("redactURLs(%q) = %q, the regexp says %q", s, got, want)
		}
	})
}
