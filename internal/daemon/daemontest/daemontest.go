// Package daemontest is the test kit of the daemon's tests and the
// command's: a real upstream DNS server on loopback and a config that
// forwards to it.
package daemontest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dnspin/dnspin/resolver/resolvertest"
)

// StartUpstream is a real DNS server on loopback answering every A query
// with 198.18.0.1 (resolvertest's, with a TTL of 60 s); it returns its
// address.
func StartUpstream(t *testing.T) string {
	t.Helper()
	return resolvertest.StartUpstream(t, resolvertest.UpstreamConfig{Default: "198.18.0.1", TTL: 60}).Addr
}

// WriteConfig writes a config to a temp dir that listens on a free
// loopback port, forwards to upstream and pins shop.tickets.test to
// 192.0.2.10, and returns its path.
func WriteConfig(t *testing.T, upstream string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "dnspin.toml")
	src := fmt.Sprintf(`listen = ["127.0.0.1:0"]
upstreams = [%q]
state_dir = %q
control = %q
# The upstream is always healthy here: a loaded machine must not turn a
# slow live answer into the pin (the fallback is the resolver's tests' job).
[outage]
answer_budget = "10s"
client_timeout = "15s"
[platform]
domains = ["tickets.test"]
# No TLS checks of pins: 192.0.2.10 is not on loopback (pin verification
# is tested in a namespace, cmd/dnspin/pincheck_linux_test.go).
verify_interval = "0s"
[[pin]]
name = "shop.tickets.test"
a = ["192.0.2.10"]
`, upstream, dir, filepath.Join(dir, "dnspin.sock"))
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
