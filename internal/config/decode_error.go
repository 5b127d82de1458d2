package config

import (
	"encoding"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// The TOML library's messages speak of its type system ("incompatible
// types: TOML value has type string; destination has type slice") and pass
// Go's own parse errors through (`ParseAddr("192.0.2.300"): IPv4 field has
// value >255`). decodeError turns them into one line in the form of every
// other config error: file:line: key: what is wrong and how to write it.

var (
	typeErrRE   = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]+)"\): (?:incompatible types|type mismatch)`)
	bareWordRE  = regexp.MustCompile(`expected value but found "([^"]*)" instead`)
	parseAddrRE = regexp.MustCompile(`^ParseAddr\("((?:[^"\\]|\\.)*)"\)`)
)

func decodeError(path string, src []byte, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		key, msg := pe.LastKey, pe.Message
		if !textValued(key) { // the lexer: not TOML at all
			hint := "fix the TOML syntax on that line (text needs quotes, lists brackets)"
			if m := bareWordRE.FindStringSubmatch(msg); m != nil && key != "" {
				hint = fmt.Sprintf("text needs quotes, e.g. %s = %s", key[strings.LastIndex(key, ".")+1:], strconv.Quote(m[1]))
			}
			if key == "" {
				return fmt.Errorf("config %s:%d: %s: %s", path, pe.Position.Line, msg, hint)
			}
			return fmt.Errorf("config %s:%d: %s: %s: %s", path, pe.Position.Line, key, msg, hint)
		}
		if m := parseAddrRE.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("%s is not an IP address: write it like %s", strconv.Quote(unquote(m[1])), addrExample(key))
		}
		return fmt.Errorf("config %s:%d: %s: %s", path, pe.Position.Line, key, msg)
	}
	if m := typeErrRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return fmt.Errorf("config %s:%d: %s: %s", path, line, m[2], expectedForm(m[2], valueOn(src, line)))
	}
	return fmt.Errorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "toml: "))
}

// textValued reports whether key's value is parsed by an UnmarshalText
// method (durations, addresses), whose errors the TOML library passes on
// as they are; any other error at a key is the TOML syntax's.
func textValued(key string) bool {
	if key == "" {
		return false
	}
	t := fieldType(reflect.TypeOf(Config{}), strings.Split(key, "."))
	for t != nil && t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	tu := reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
	return t != nil && (t.Implements(tu) || reflect.PointerTo(t).Implements(tu))
}

// unquote undoes the escaping of a %q-quoted string.
func unquote(s string) string {
	if u, err := strconv.Unquote(`"` + s + `"`); err == nil {
		return u
	}
	return s
}

// addrExample is an address of the family key holds.
func addrExample(key string) string {
	if strings.HasSuffix(key, "aaaa") {
		return `"2001:db8::10"`
	}
	return `"192.0.2.10"`
}

// valueOn is the text after "=" on line n of src, without a comment.
func valueOn(src []byte, n int) string {
	lines := strings.Split(string(src), "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	_, v, ok := strings.Cut(lines[n-1], "=")
	if !ok {
		return ""
	}
	inQuote := false
	for i, r := range v {
		switch {
		case r == '"':
			inQuote = !inQuote
		case r == '#' && !inQuote:
			v = v[:i]
		}
		if r == '#' && !inQuote {
			break
		}
	}
	return strings.TrimSpace(v)
}

// expectedForm says what key expects, with an example built from the value
// the file gave (value) where that helps: `domains = "x"` becomes
// `expects a list, e.g. domains = ["x"]`.
func expectedForm(key, value string) string {
	t := fieldType(reflect.TypeOf(Config{}), strings.Split(key, "."))
	name := key[strings.LastIndex(key, ".")+1:]
	quoted := value
	if !strings.HasPrefix(value, `"`) && !strings.HasPrefix(value, "'") {
		quoted = strconv.Quote(strings.Trim(value, "[] "))
	}
	switch {
	case t == nil:
		return "has the wrong type: see docs/configuration.md"
	case t == reflect.TypeOf(Duration{}):
		return fmt.Sprintf(`expects a duration in quotes, e.g. %s = "300ms"`, name)
	case t.Kind() == reflect.Slice && t.Elem() == reflect.TypeOf(netip.Addr{}):
		ex := addrExample(key)
		if strings.HasPrefix(value, `"`) {
			ex = value
		}
		return fmt.Sprintf(`expects a list of addresses, e.g. %s = [%s]`, name, ex)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return fmt.Sprintf("is a list of tables: write each one as [[%s]] on its own line, followed by its keys", name)
	case t.Kind() == reflect.Slice:
		return fmt.Sprintf("expects a list, e.g. %s = [%s]", name, quoted)
	case t.Kind() == reflect.Struct:
		return fmt.Sprintf("is a table: write [%s] on its own line, followed by its keys", name)
	case t.Kind() == reflect.Bool:
		return fmt.Sprintf("expects true or false without quotes, e.g. %s = true", name)
	case t.Kind() == reflect.Int:
		return fmt.Sprintf("expects a whole number without quotes, e.g. %s = %v", name, defaultOf(key))
	case t.Kind() == reflect.String:
		return fmt.Sprintf("expects one value in quotes, e.g. %s = %s", name, quoted)
	}
	return "has the wrong type: see docs/configuration.md"
}

// fieldType follows a dotted TOML key through Config's toml tags; list
// indices ("pin.0.a") and lists of tables are stepped through.
func fieldType(t reflect.Type, path []string) reflect.Type {
	for _, p := range path {
		for t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
			t = t.Elem()
		}
		if _, err := strconv.Atoi(p); err == nil {
			continue
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
		var next reflect.Type
		for i := range t.NumField() {
			if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ","); tag == p {
				next = t.Field(i).Type
			}
		}
		if next == nil {
			return nil
		}
		t = next
	}
	return t
}

// defaultOf is key's default value (for examples); 3 for keys inside lists.
func defaultOf(key string) any {
	v := reflect.ValueOf(Default()).Elem()
	for _, p := range strings.Split(key, ".") {
		if v.Kind() != reflect.Struct {
			return 3
		}
		var next reflect.Value
		for i := range v.NumField() {
			if tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("toml"), ","); tag == p {
				next = v.Field(i)
			}
		}
		if !next.IsValid() {
			return 3
		}
		v = next
	}
	if v.Kind() == reflect.Int && v.Int() != 0 {
		return v.Int()
	}
	return 3
}
