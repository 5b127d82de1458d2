package daemon

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/resolver"
)

// TestResolverSettings: every key of the file reaches the resolver, and
// every field of resolver.Config is set from the file (a new field that
// resolverSettings forgets fails here).
func TestResolverSettings(t *testing.T) {
	src := `
listen = ["127.0.0.1:5353", "192.0.2.7:53"]
allow_remote = true
allow_clients = ["192.0.2.0/24", "10.1.2.3"]
upstreams = ["system", "192.0.2.1", "[2001:db8::1]:5300"]
mode = "pinned"
state_dir = "/tmp/x"
cache_size = 77

[platform]
name = "T"
domains = ["Tickets.Example.", "cdn.example"]

[[pin]]
name = "*.Tickets.example"
a = ["192.0.2.10"]
aaaa = ["2001:db8::10"]

[outage]
answer_budget = "100ms"
client_timeout = "1500ms"
stale_ttl = "20s"
max_stale = "48h"
probe_interval = "2s"
recover_after = 5
`
	c, err := config.Parse("full.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rc := ResolverSettings(c, []string{"10.9.9.9", "192.0.2.1", "not an address"})
	for _, f := range reflect.VisibleFields(reflect.TypeOf(rc)) {
		if reflect.ValueOf(rc).FieldByIndex(f.Index).IsZero() {
			t.Errorf("resolver.Config.%s is not set from the file", f.Name)
		}
	}
	for _, tc := range []struct{ what, got, want string }{
		{"listen", fmt.Sprint(rc.Listen), "[127.0.0.1:5353 192.0.2.7:53]"},
		{"allow_clients", fmt.Sprint(rc.AllowClients), "[192.0.2.0/24 10.1.2.3/32]"},
		{"upstreams (system expanded, deduplicated)", strings.Join(rc.Upstreams, ","), "10.9.9.9:53,192.0.2.1:53,[2001:db8::1]:5300"},
		{"domains", strings.Join(rc.Domains, ","), "tickets.example,cdn.example"},
		{"pins", fmt.Sprint(rc.Pins), "[{*.tickets.example [192.0.2.10] [2001:db8::10]}]"},
		{"mode", string(rc.Mode), string(resolver.ModePinned)},
		{"outage", fmt.Sprint(rc.AnswerBudget, rc.ClientTimeout, rc.StaleTTL, rc.MaxStale, rc.ProbeInterval, rc.RecoverAfter),
			fmt.Sprint(100*time.Millisecond, 1500*time.Millisecond, 20*time.Second, 48*time.Hour, 2*time.Second, 5)},
		{"state_dir, cache_size", fmt.Sprintf("%s %d", rc.StateDir, rc.CacheSize), "/tmp/x 77"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %s, want %s", tc.what, tc.got, tc.want)
		}
	}
	rc.Pins[0].Name = "changed"
	if c.Pins[0].Name != "*.tickets.example" {
		t.Error("the resolver's pins share the config's slice")
	}
}
