package main

import (
	"strings"
	"testing"
)

// What `dnspin activate` says when an address does not answer: dnspin
// itself holding it is never called "another program" to stop.
func TestNotAnsweringNamesTheCase(t *testing.T) {
	for _, tc := range []struct {
		holder    string
		want, not []string
	}{
		{"dnspin (pid 4711)", []string{"held by dnspin (pid 4711), which did not answer", "dnspin status", "restart the dnspin service", "nothing was changed"}, []string{"not dnspin", "systemctl disable"}},
		{"dnspin.exe (pid 12)", []string{"dnspin.exe (pid 12), which did not answer"}, []string{"not dnspin"}},
		{"dnsmasq (pid 812)", []string{"held by dnsmasq (pid 812), not dnspin", "systemctl disable --now dnsmasq", "listen in /etc/dnspin/dnspin.toml", "nothing was changed"}, nil},
		{"dnspin.test (pid 9)", []string{"held by dnspin.test (pid 9), not dnspin"}, nil},
		{"", []string{"nothing answers DNS on 127.0.0.1:53", "start the dnspin service first"}, []string{"held by"}},
	} {
		msg := notAnswering("127.0.0.1:53", tc.holder, "/etc/dnspin/dnspin.toml").Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("holder %q: %q lacks %q", tc.holder, msg, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(msg, n) {
				t.Errorf("holder %q: %q should not say %q", tc.holder, msg, n)
			}
		}
	}
}
