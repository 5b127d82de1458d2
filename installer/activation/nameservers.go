package activation

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"
)

// ParseNameservers returns the nameserver lines of a resolv.conf in order.
func ParseNameservers(b []byte) []string {
	var ns []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "nameserver" {
			a := f[1]
			if i := strings.IndexByte(a, '%'); i >= 0 { // fe80::1%eth0
				a = a[:i]
			}
			if _, err := netip.ParseAddr(a); err == nil {
				ns = append(ns, a)
			}
		}
	}
	return ns
}
