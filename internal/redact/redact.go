// Package redact is dnspin's one redaction for everything that leaves the
// process: support reports, the status and check answers of the control
// API (which every local user may read), `dnspin status --json` and
// `check`, and the log (file, stderr and the report's copy). It removes URL
// userinfo, query strings and fragments, PEM key blocks, values of
// secret-looking keys and long base64/hex runs (raw key material). Host
// names, paths, addresses and public keys' hashes stay, so support can
// still read what happened.
package redact

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// String removes secret-looking material from s: PEM blocks, URL
// credentials, query strings and fragments, values of secret-looking keys
// (replaced by a short hash so two reports can be compared), and long
// base64/hex runs. Redacting twice changes nothing more. It costs about a
// microsecond for a log line: URLs, keys and blobs are found by
// hand-written scanners (as regular expressions they cost ~1.5 µs a byte,
// and compiling them per call, to keep the package free of global state,
// tens of µs).
func String(s string) string {
	if strings.Contains(s, "-----BEGIN ") {
		pem := regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----`)
		s = pem.ReplaceAllString(s, "[redacted key block]")
	}
	if strings.Contains(s, "://") {
		s = redactURLs(s)
	}
	return redactBlobs(redactKeyValues(s))
}

// Field redacts the value of a key/value pair (a log attribute): all of it,
// as a short hash, when the key names a secret; else as String does.
func Field(key, value string) string {
	if value != "" && secretKey(key) {
		return hashed(value)
	}
	return String(value)
}

func isSchemeChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '.' || c == '-'
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// urlStop reports whether c ends a URL part (white space as RE2 \s, no
// \v; quotes, angle brackets); extra are the part's own
// delimiters (e.g. "/?#@" for the user info).
func urlStop(c byte, extra string) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
		c == '"' || c == '\'' || c == '<' || c == '>' || strings.IndexByte(extra, c) >= 0
}

// redactURLs rewrites every scheme://[userinfo@]host/path[?query][#fragment]
// in s to scheme://[redacted]@host/path?[redacted]#[redacted], keeping
// host and path. The scheme starts at a letter and runs back from "://"
// over letters, digits, "+", "." and "-".
func redactURLs(s string) string {
	var out strings.Builder
	last, i := 0, 0
	for {
		k := strings.Index(s[i:], "://")
		if k < 0 {
			break
		}
		k += i
		st := k
		for st > i && isSchemeChar(s[st-1]) {
			st--
		}
		for st < k && !isLetter(s[st]) { // a scheme starts with a letter
			st++
		}
		if st == k { // no scheme: not a URL
			i = k + 3
			continue
		}
		p := k + 3
		out.WriteString(s[last:p])
		// User info: a run without delimiters that ends in "@".
		u := p
		for u < len(s) && !urlStop(s[u], "/?#@") {
			u++
		}
		if u < len(s) && s[u] == '@' {
			out.WriteString("[redacted]@")
			p = u + 1
		}
		h := p
		for h < len(s) && !urlStop(s[h], "?#") {
			h++
		}
		out.WriteString(s[p:h])
		p = h
		if p < len(s) && s[p] == '?' {
			for p++; p < len(s) && !urlStop(s[p], "#"); p++ {
			}
			out.WriteString("?[redacted]")
		}
		if p < len(s) && s[p] == '#' {
			for p++; p < len(s) && !urlStop(s[p], ""); p++ {
			}
			out.WriteString("#[redacted]")
		}
		last, i = p, p
	}
	if last == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

func secretKey(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords() {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// hashed stands in for a secret: recognisable as redacted, and the same
// secret gives the same hash, so support can tell whether two desktops
// have the same key without seeing it.
func hashed(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "[redacted, sha256 " + hex.EncodeToString(sum[:4]) + "]"
}

// secretWords mark a key whose value is secret: "public_key", "api_token",
// "password", "Authorization", ... Public keys are not secret, but a value
// under a key name may be a private key pasted by mistake; the hash still
// lets support compare keys.
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
		out.WriteString(s[last:p])
		out.WriteString(`"` + hashed(v) + `"`)
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
