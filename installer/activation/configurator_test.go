package activation

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseNameserversAndWithoutSelf(t *testing.T) {
	ns := ParseNameservers([]byte("# c\nsearch x\nnameserver 127.0.0.1\nnameserver 192.0.2.1\nnameserver fe80::1%eth0\nnameserver bogus\n"))
	if want := []string{"127.0.0.1", "192.0.2.1", "fe80::1"}; !reflect.DeepEqual(ns, want) {
		t.Fatalf("ParseNameservers = %v, want %v", ns, want)
	}
	got := withoutSelf(append(ns, "127.0.0.1:5353", "0.0.0.0"), []string{"127.0.0.1:53", "127.0.0.1:5353"})
	if want := []string{"192.0.2.1:53", "[fe80::1]:53"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("withoutSelf = %v, want %v", got, want)
	}
}

// dnspin listening on a wildcard address (allow_remote) answers on every
// local address of that port, so a loopback name server there is dnspin
// itself: forwarding to it would loop. "[::]" is dual-stack in Go, so it
// covers IPv4 loopback too.
func TestWithoutSelfWildcardListen(t *testing.T) {
	for _, tc := range []struct {
		self []string
		want []string
	}{
		{[]string{"0.0.0.0:53"}, []string{"[::1]:53", "127.0.0.1:5353", "192.0.2.1:53"}},
		{[]string{"[::]:53"}, []string{"127.0.0.1:5353", "192.0.2.1:53"}},
		{[]string{"0.0.0.0:5353"}, []string{"127.0.0.1:53", "127.0.0.53:53", "[::1]:53", "192.0.2.1:53"}},
	} {
		got := withoutSelf([]string{"127.0.0.1", "127.0.0.53", "::1", "127.0.0.1:5353", "192.0.2.1"}, tc.self)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("withoutSelf(self %v) = %v, want %v", tc.self, got, tc.want)
		}
	}
}

// ownAddrs decides for every OS how dnspin's own address is named; a
// wildcard listen address is the one place where the OSes differ.
func TestOwnAddrs(t *testing.T) {
	for _, tc := range []struct {
		listen   []string
		port     uint16
		wildcard netip.Addr
		want     string
	}{
		{[]string{"[::1]:53", "127.0.0.1:5353", "127.0.0.1:53"}, 53, netip.Addr{}, "::1 127.0.0.1"},
		{[]string{"127.0.0.1:5353", "127.0.0.2:5353"}, 5353, netip.Addr{}, "127.0.0.1 127.0.0.2"},
		{[]string{"0.0.0.0:53", "[::]:53"}, 53, netip.Addr{}, "0.0.0.0 ::"},
		{[]string{"0.0.0.0:53", "[::]:53"}, 53, loopback4, "127.0.0.1 127.0.0.1"},
		{[]string{"[::ffff:127.0.0.2]:53"}, 53, netip.Addr{}, "127.0.0.2"},
		{[]string{"127.0.0.1:5353"}, 53, loopback4, ""},
	} {
		as, err := ownAddrs(tc.listen, tc.port, tc.wildcard)
		var got []string
		for _, a := range as {
			got = append(got, a.String())
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("ownAddrs(%v, %d, %v) = %v %v, want %q", tc.listen, tc.port, tc.wildcard, got, err, tc.want)
		}
	}
	if _, err := ownAddrs([]string{"127.0.0.1"}, 53, netip.Addr{}); err == nil || !strings.Contains(err.Error(), `"127.0.0.1" is not IP:port`) {
		t.Errorf("ownAddrs of an address without port: %v, want it named", err)
	}
}

// With a wildcard listen address Linux names 0.0.0.0 (glibc reads it as
// this host), Windows and macOS 127.0.0.1.
func TestWildcardListenPerOS(t *testing.T) {
	full := Plan{Mode: "full", Resolver: []string{"0.0.0.0:53", "[::]:53"}}
	rc, err := directResolvConf(full, []byte("nameserver 192.0.2.1\n"))
	if err != nil || !strings.Contains(string(rc), "\nnameserver 0.0.0.0\nnameserver 192.0.2.1\n") {
		t.Errorf("resolv.conf for a wildcard listen: %v\n%s", err, rc)
	}
	if got, err := resolvconfServers(full); err != nil || strings.Join(got, " ") != "0.0.0.0 ::" {
		t.Errorf("resolvconf servers for a wildcard listen = %v %v, want 0.0.0.0 ::", got, err)
	}
	v4, v6, err := port53Servers([]string{"[::]:53"})
	if err != nil || strings.Join(v4, " ") != "127.0.0.1" || len(v6) != 0 {
		t.Errorf("Windows servers for [::]:53 = %v %v %v, want 127.0.0.1 only", v4, v6, err)
	}
	f, err := (&macDNS{}).resolverFile(Plan{Resolver: []string{"[::]:5353", "[::1]:5353", "127.0.0.1:5353"}}, nil)
	if want := Marker + "\nnameserver 127.0.0.1\nnameserver ::1\nport 5353\n"; err != nil || string(f) != want {
		t.Errorf("macOS resolver file for a wildcard listen = %q %v, want %q", f, err, want)
	}
}
