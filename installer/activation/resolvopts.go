package activation

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Fast failure through the stub resolver. glibc asks the nameservers of
// resolv.conf in order, moving on when one answers SERVFAIL or refuses the
// port (a dead dnspin), and waits out a silent one: in send_dg the server at
// index i gets (timeout << i) / nscount seconds (i > 0; at least 1 s), the
// whole walk is repeated `attempts` times, and once more for every search
// domain. With glibc's defaults (timeout:5 attempts:2) a dark original
// server listed after dnspin costs 10 s per name tried, 20 s with one search
// domain, even when dnspin answered SERVFAIL at once. dnspin's own server is
// on loopback (no packet loss) and retries upstream itself, so activation
// writes one timeout:1 attempts:1 line and lists one original server only:
// a dark network then costs 1 s per name tried (2 s with a search domain),
// and a dead dnspin still costs nothing (port unreachable).
const (
	// FailFastTimeout is the resolv.conf "timeout:" activation writes.
	FailFastTimeout = 1
	// FailFastAttempts is the resolv.conf "attempts:" activation writes.
	FailFastAttempts = 1
)

// resolvOptions reads the "options" lines of a resolv.conf the way glibc
// does (every line counts, the last value wins) and returns the timeout and
// attempts dnspin writes: its own, or the original's where that is stricter
// (smaller), so an administrator's tighter setting is never lost. was
// describes the original values for a comment ("" if it set neither).
func resolvOptions(orig []byte) (timeout, attempts int, was string) {
	timeout, attempts = FailFastTimeout, FailFastAttempts
	var seen []string
	for _, f := range optionTokens(orig) {
		if n, ok := optionValue(f, "timeout:"); ok {
			timeout = min(n, FailFastTimeout)
			seen = append(seen, f)
		} else if n, ok := optionValue(f, "attempts:"); ok {
			attempts = min(n, FailFastAttempts)
			seen = append(seen, f)
		}
	}
	return timeout, attempts, strings.Join(seen, " ")
}

// optionTokens returns the words of every "options" line, in order.
func optionTokens(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[0] == "options" {
			out = append(out, f[1:]...)
		}
	}
	return out
}

// optionValue parses "timeout:N" style options. Only plain non-negative
// numbers count; anything else is left in the original line untouched.
func optionValue(tok, key string) (int, bool) {
	v, ok := strings.CutPrefix(tok, key)
	if !ok || v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// keptOptionsLine is an original "options" line without the options dnspin
// replaces: "rotate" (it would send a share of queries around dnspin) and
// the timeout and attempts that dnspin's own line sets. It returns "" when
// nothing is left.
func keptOptionsLine(fields []string) string {
	kept := []string{"options"}
	for _, o := range fields[1:] {
		_, t := optionValue(o, "timeout:")
		_, a := optionValue(o, "attempts:")
		if o != "rotate" && !t && !a {
			kept = append(kept, o)
		}
	}
	if len(kept) == 1 {
		return ""
	}
	return strings.Join(kept, " ")
}

// failFastLines are the comment and the options line dnspin appends; last in
// the file, so they win over any earlier options line.
func failFastLines(orig []byte) string {
	t, a, was := resolvOptions(orig)
	why := "# dnspin: fail fast when dnspin answers SERVFAIL in an outage (1 s per silent server, one try)"
	if was != "" {
		why += "; the original had " + was
	}
	return fmt.Sprintf("%s\noptions timeout:%d attempts:%d\n", why, t, a)
}

// nameserverTokens returns the addresses of the nameserver lines as
// written (an IPv6 zone such as fe80::1%eth0 kept), in order.
func nameserverTokens(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "nameserver" && len(ParseNameservers([]byte("nameserver "+f[1]))) == 1 {
			out = append(out, f[1])
		}
	}
	return out
}
