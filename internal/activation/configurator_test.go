package activation

import (
	"reflect"
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
