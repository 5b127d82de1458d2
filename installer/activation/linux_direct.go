package activation

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"slices"
	"strings"
)

// directBackend writes /etc/resolv.conf itself.
type directBackend struct {
	plainBackend
	fs ExtFS
}

var _ linuxBackend = directBackend{}

func (directBackend) name() Backend   { return BackendDirect }
func (directBackend) files() []string { return []string{ResolvConf} }

// originals are the servers of the resolv.conf dnspin replaced.
func (b directBackend) originals(ctx context.Context, j *Journal) []string {
	if r, ok := j.Find("file", ResolvConf); ok {
		return ParseNameservers(r.Data)
	}
	cur, _ := b.fs.ReadFile(ResolvConf)
	return ParseNameservers(cur)
}

func (directBackend) desired(j *Journal, r Record) ([]byte, error) {
	return directResolvConf(j.Plan, r.Data)
}

// plainBackend holds the defaults of a backend that only writes files:
// nothing to learn beyond the file, no daemon to reload, no single domains,
// nothing to show beyond the files. The resolvconf backend overrides what
// it does beyond that (learn, relearn, reload).
type plainBackend struct{}

func (plainBackend) learn(ctx context.Context, r *Record) {}
func (plainBackend) relearn(r *Record)                    {}
func (plainBackend) reload() [][]string                   { return nil }
func (plainBackend) scopes() bool                         { return false }
func (plainBackend) liveServers() bool                    { return false }
func (plainBackend) snapshot(j *Journal, s *Snapshot)     {}

// directResolvConf is dnspin's resolv.conf: its server first, then ONE
// original server (so glibc falls back to it at once when dnspin is gone: a
// closed port answers with ICMP port unreachable), then the original search
// and options lines, then dnspin's fast-failure options (see resolvopts.go).
// Only one original is listed because every silent server glibc walks
// through costs at least a second per name tried: with the network dark,
// dnspin + 1 original fails a name in 1 s (2 s with a search domain), + 2
// originals in 2 s (4 s). The others stay in the journal: dnspin forwards
// to all of them (upstreams = ["system"]). "options rotate" is dropped: it
// would send a share of queries around dnspin.
func directResolvConf(p Plan, orig []byte) ([]byte, error) {
	v4, v6, err := port53(p)
	if err != nil {
		return nil, err
	}
	self := cmp.Or(v4, v6)
	var fallback, fallbackAddr string
	var others []string
	for _, n := range nameserverTokens(orig) {
		a := ParseNameservers([]byte("nameserver " + n))[0]
		switch {
		case a == self || a == fallbackAddr || slices.Contains(others, a):
		case fallback == "":
			fallback, fallbackAddr = n, a
		default:
			others = append(others, a)
		}
	}
	var sb strings.Builder
	sb.WriteString(Marker + "\n")
	sb.WriteString("# dnspin activation (" + p.Mode + "): dnspin first, then one original server (used if dnspin is not running).\n")
	sb.WriteString("nameserver " + self + "\n")
	if fallback != "" {
		sb.WriteString("nameserver " + fallback + "\n")
	}
	if len(others) > 0 {
		sb.WriteString("# other original servers, not listed (each would cost 1 s per name when dark): " + strings.Join(others, " ") + "\n")
	}
	sc := bufio.NewScanner(bytes.NewReader(orig))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") || f[0] == "nameserver" {
			continue
		}
		if f[0] == "options" {
			if line = keptOptionsLine(f); line == "" {
				continue
			}
		}
		sb.WriteString(line + "\n")
	}
	sb.WriteString(failFastLines(orig))
	return []byte(sb.String()), nil
}
