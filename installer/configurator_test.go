package installer

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
