package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestPlainPinsAsDecoded: reading [[pin]] tables without the TOML decoder
// gives the same config, or the same error, as the decoder, for plain
// tables and for everything that must fall back to the decoder.
func TestPlainPinsAsDecoded(t *testing.T) {
	head := "[platform]\ndomains = [\"tickets.example\"]\n"
	cases := []struct {
		desc  string
		src   string
		plain bool // splitPins reads it (else the decoder does)
	}{
		{"plain", head + "[[pin]]\nname = \"shop.tickets.example\"\na = [\"192.0.2.10\", \"192.0.2.11\"]\naaaa = [\"2001:db8::10\"]\n", true},
		{"comments, blanks, CRLF, trailing comma, no spaces", head + "# pins\r\n[[pin]] # first\r\n\r\n  name=\"Shop.Tickets.Example.\"  # upper case\r\n\ta = [ \"192.0.2.10\" , ]\r\n[[pin]]\nname = \"*.cdn.tickets.example\"\naaaa = []\na=[\"192.0.2.20\"]", true},
		{"tables after the pins", head + "[[pin]]\nname = \"a.tickets.example\"\na = [\"192.0.2.1\"]\n[outage]\nstale_ttl = \"10s\"\n[[pin]]\nname = \"b.tickets.example\"\na = [\"192.0.2.2\"]\n", true},
		{"# in a name", head + "[[pin]]\nname = \"a#b.tickets.example\"\na = [\"192.0.2.1\"]\n", true},
		{"empty address", head + "[[pin]]\nname = \"a.tickets.example\"\na = [\"\"]\n", true},
		{"no addresses", head + "[[pin]]\nname = \"a.tickets.example\"\n", true},
		{"not under a domain", head + "[[pin]]\nname = \"bank.example\"\na = [\"192.0.2.1\"]\n", true},
		{"IPv6 in a", head + "[[pin]]\nname = \"a.tickets.example\"\na = [\"2001:db8::1\"]\n", true},
		{"bad address", head + "[[pin]]\nname = \"a.tickets.example\"\na = [\"300.1.1.1\"]\n", false},
		{"unknown key", head + "[[pin]]\nname = \"a.tickets.example\"\nttl = 5\na = [\"192.0.2.1\"]\n", false},
		{"key twice", head + "[[pin]]\nname = \"a.tickets.example\"\nname = \"b.tickets.example\"\na = [\"192.0.2.1\"]\n", false},
		{"multi-line array", head + "[[pin]]\nname = \"a.tickets.example\"\na = [\n \"192.0.2.1\",\n]\n", false},
		{"escape", head + "[[pin]]\nname = \"a\\u0041.tickets.example\"\na = [\"192.0.2.1\"]\n", false},
		{"literal string", head + "[[pin]]\nname = 'a.tickets.example'\na = [\"192.0.2.1\"]\n", false},
		{"string, not a list", head + "[[pin]]\nname = \"a.tickets.example\"\na = \"192.0.2.1\"\n", false},
		{"bare word", head + "[[pin]]\nname = a.tickets.example\na = [\"192.0.2.1\"]\n", false},
		{"unterminated", head + "[[pin]]\nname = \"a.tickets.example\na = [\"192.0.2.1\"]\n", false},
		{"junk after value", head + "[[pin]]\nname = \"a.tickets.example\" x\na = [\"192.0.2.1\"]\n", false},
		{"inline array of tables too", head + "pin = [{name = \"b.tickets.example\", a = [\"192.0.2.2\"]}]\n[[pin]]\nname = \"a.tickets.example\"\na = [\"192.0.2.1\"]\n", true},
		{"spaced header", head + "[[pin]]\nname = \"a.tickets.example\"\na = [\"192.0.2.1\"]\n[[ pin ]]\nname = \"b.tickets.example\"\na = [\"192.0.2.2\"]\n", true},
		{"sub-table of a pin", head + "[[pin]]\nname = \"a.tickets.example\"\na = [\"192.0.2.1\"]\n[pin.x]\ny = 1\n", true},
		{"header inside a multi-line array", "listen = [\n\"127.0.0.1:53\",\n[[pin]]\nname = \"a.tickets.example\"\n]\n", false},
		{"header inside a multi-line string", head + "[bundle]\npublic_key = \"\"\"\n[[pin]]\nname = \"a.tickets.example\"\n\"\"\"\n", false},
		{"syntax error elsewhere", head + "[[pin]]\nname = \"a.tickets.example\"\na = [\"192.0.2.1\"]\n[outage]\nstale_ttl = 10s\n", true},
		{"unknown key elsewhere", head + "[[pin]]\nname = \"a.tickets.example\"\na = [\"192.0.2.1\"]\n[outage]\nstale = \"10s\"\n", true},
		{"no pins", head, true},
	}
	for _, tc := range cases {
		_, pins, ok := splitPins([]byte(tc.src))
		if ok != tc.plain {
			t.Errorf("%s: splitPins ok = %v, want %v (pins %+v)", tc.desc, ok, tc.plain, pins)
		}
		fast, ferr := parse("x.toml", []byte(tc.src), true)
		slow, serr := parse("x.toml", []byte(tc.src), false)
		if fmt.Sprint(ferr) != fmt.Sprint(serr) {
			t.Errorf("%s: error\n%v\nwith the decoder\n%v", tc.desc, ferr, serr)
			continue
		}
		if serr == nil && !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: config\n%+v\nwith the decoder\n%+v", tc.desc, fast, slow)
		}
	}
}

// TestPlainPinsMany: a generated file of many pins reads the same both ways.
func TestPlainPinsMany(t *testing.T) {
	var b strings.Builder
	b.WriteString("[platform]\ndomains = [\"tickets.example\"]\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "\n[[pin]]\nname = \"h%d.tickets.example\"\na = [\"198.18.%d.%d\"]\naaaa = [\"2001:db8::%x\"]\n", i, i>>8, i&0xFF, i)
	}
	fast, ferr := parse("x.toml", []byte(b.String()), true)
	slow, serr := parse("x.toml", []byte(b.String()), false)
	if ferr != nil || serr != nil || len(fast.Pins) != 2000 || !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast %d pins, %v; decoder %d pins, %v; or they differ", len(fast.Pins), ferr, len(slow.Pins), serr)
	}
}

// FuzzPlainPins: for any file, reading pins by hand and the TOML decoder
// agree on the config, or both refuse it (the seeds are the cases above).
// Which error comes first is not compared here: with two errors in one
// file the decoder itself reports either, in map order; parse hands every
// file the fast way cannot take whole to the decoder, and the table test
// above compares the messages. Run with
// `go test -run X -fuzz FuzzPlainPins ./internal/config` after touching
// splitPins.
func FuzzPlainPins(f *testing.F) {
	head := "[platform]\ndomains = [\"tickets.example\"]\n"
	f.Add(head + "[[pin]]\nname = \"shop.tickets.example\"\na = [\"192.0.2.10\", \"192.0.2.11\"]\naaaa = [\"2001:db8::10\"]\n")
	f.Add(head + "[[pin]] # x\r\n  name=\"Shop.Tickets.Example.\"\r\n\ta = [ \"192.0.2.10\" , ]\r\n[[ pin ]]\nname = \"*.cdn.tickets.example\"\naaaa = []\n")
	f.Add(head + "[[pin]]\nname = \"a.tickets.example\"\na = [\"192.0.2.1\"]\n[outage]\nstale_ttl = \"10s\"\n[pin.x]\ny = 1\n")
	f.Add("listen = [\n\"127.0.0.1:53\",\n[[pin]]\nname = \"a.tickets.example\"\n]\n")
	f.Fuzz(func(t *testing.T, src string) {
		fast, ferr := parse("x.toml", []byte(src), true)
		slow, serr := parse("x.toml", []byte(src), false)
		if (ferr == nil) != (serr == nil) {
			t.Fatalf("error\n%v\nwith the decoder\n%v", ferr, serr)
		}
		if serr == nil && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("config\n%+v\nwith the decoder\n%+v", fast, slow)
		}
	})
}
