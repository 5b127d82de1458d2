package config

import (
	"bytes"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/dnspin/dnspin/internal/dnsname"
)

// Pin tables are most of a large config: with 10,000 pins the TOML
// decoder took 95 % of reading the file (~290 ms; BenchmarkStartPins in
// internal/daemon). splitPins reads [[pin]] tables written in the plain
// form dnspin's docs and examples use by hand, and leaves the rest of the
// file to the decoder:
//
//	[[pin]]
//	name = "shop.tickets.example"   # comments and blank lines are fine
//	a = ["192.0.2.10", "192.0.2.11"]
//	aaaa = ["2001:db8::10"]
//
// Anything else in a pin table (another key, a key twice, a multi-line or
// nested array, escapes in strings, literal strings, inline tables, pins
// written any other way) makes Parse decode the whole file with the TOML
// decoder, as before: the fast way never changes what a file means or
// which error it gets.

// splitPins returns src with the lines of its [[pin]] tables emptied (so
// the decoder's line numbers stay right) and the pins read from them, in
// file order. ok is false when a pin table is not in the plain form, or
// when the file has multi-line strings (which could hold a "[[pin]]" line
// that is not a table).
func splitPins(src []byte) (rest []byte, pins []dnsname.Pin, ok bool) {
	if !bytes.Contains(src, []byte("[[pin]]")) {
		return src, nil, true
	}
	if !utf8.Valid(src) || bytes.Contains(src, []byte(`"""`)) || bytes.Contains(src, []byte(`'''`)) {
		return nil, nil, false
	}
	rest = make([]byte, 0, len(src))
	pins = make([]dnsname.Pin, 0, bytes.Count(src, []byte("[[pin]]")))
	text := string(src) // one copy; lines and values are slices of it
	in := false         // inside a [[pin]] table
	var seen int        // keys of the current pin: 1 name, 2 a, 4 aaaa
	depth := 0          // open brackets of a multi-line array in the decoder's lines
	for len(text) > 0 {
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i+1], text[i+1:]
		} else {
			text = ""
		}
		t := strings.TrimRight(line, "\r\n")
		t = strings.Trim(t, " \t")
		if depth > 0 { // inside a multi-line array: no table starts here
			h, _, _ := strings.Cut(t, "#")
			if strings.TrimRight(h, " \t") == "[[pin]]" {
				return nil, nil, false
			}
			depth = max(0, depth+brackets(t))
			rest = append(rest, line...)
			continue
		}
		if strings.HasPrefix(t, "[") {
			h, _, _ := strings.Cut(t, "#")
			if strings.TrimRight(h, " \t") != "[[pin]]" {
				in = false // another table: the decoder's
				rest = append(rest, line...)
				continue
			}
			in, seen = true, 0
			pins = append(pins, dnsname.Pin{})
		} else if in && t != "" && t[0] != '#' {
			key, val, found := strings.Cut(t, "=")
			if !found {
				return nil, nil, false
			}
			p := &pins[len(pins)-1]
			var bit int
			var after string
			switch strings.TrimRight(key, " \t") {
			case "name":
				bit = 1
				p.Name, after, ok = plainString(strings.TrimLeft(val, " \t"))
				p.Name = strings.Clone(p.Name) // not the whole file's text
			case "a":
				bit = 2
				p.A, after, ok = plainAddrs(strings.TrimLeft(val, " \t"))
			case "aaaa":
				bit = 4
				p.AAAA, after, ok = plainAddrs(strings.TrimLeft(val, " \t"))
			}
			if bit == 0 || !ok || seen&bit != 0 {
				return nil, nil, false
			}
			seen |= bit
			if after = strings.TrimLeft(after, " \t"); after != "" && after[0] != '#' {
				return nil, nil, false
			}
		} else if !in {
			depth = max(0, depth+brackets(t))
			rest = append(rest, line...)
			continue
		}
		if line[len(line)-1] == '\n' { // the pin's line, emptied
			rest = append(rest, '\n')
		}
	}
	return rest, pins, true
}

// brackets counts the brackets a key/value line opens and closes, outside
// strings and comments.
func brackets(t string) int {
	n := 0
	var quote byte
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return n
		case c == '[':
			n++
		case c == ']':
			n--
		}
	}
	return n
}

// plainString reads a TOML basic string without escapes at the start of s
// and returns it and what follows.
func plainString(s string) (v, after string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", false
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return "", "", false
	}
	v = s[1 : 1+end]
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\\' || c < 0x20 && c != '\t' || c == 0x7F {
			return "", "", false
		}
	}
	return v, s[2+end:], true
}

// plainAddrs reads a one-line array of plain strings at the start of s as
// addresses, parsed as the decoder parses them (netip.Addr.UnmarshalText).
// An address that does not parse is not plain: the decoder words the error.
func plainAddrs(s string) (addrs []netip.Addr, after string, ok bool) {
	if !strings.HasPrefix(s, "[") {
		return nil, "", false
	}
	s = s[1:]
	addrs = []netip.Addr{}
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "]") {
			return addrs, s[1:], true
		}
		v, rest, ok := plainString(s)
		if !ok {
			return nil, "", false
		}
		var a netip.Addr
		if err := a.UnmarshalText([]byte(v)); err != nil {
			return nil, "", false
		}
		addrs = append(addrs, a)
		s = strings.TrimLeft(rest, " \t")
		switch {
		case strings.HasPrefix(s, ","):
			s = s[1:]
		case strings.HasPrefix(s, "]"):
		default:
			return nil, "", false
		}
	}
}
