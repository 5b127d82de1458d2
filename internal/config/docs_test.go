package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestEveryKeyDocumented: docs/configuration.md is the reference the
// unknown-key message points to, so every key Config decodes must have its
// heading or table row there (written as `key`), with its table's section.
func TestEveryKeyDocumented(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var walk func(t reflect.Type, table string)
	walk = func(typ reflect.Type, table string) {
		for i := range typ.NumField() {
			tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("toml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			ft := typ.Field(i).Type
			if ft.Kind() == reflect.Slice && isTable(ft.Elem()) {
				if !strings.Contains(doc, "## `[["+tag+"]]`") {
					t.Errorf("docs/configuration.md has no section \"## `[[%s]]`\"", tag)
				}
				walk(ft.Elem(), tag)
				continue
			}
			if isTable(ft) {
				if !strings.Contains(doc, "## `["+tag+"]`") {
					t.Errorf("docs/configuration.md has no section \"## `[%s]`\"", tag)
				}
				walk(ft, tag)
				continue
			}
			section := doc
			if table != "" {
				// The key must be documented inside its table's section.
				start := strings.Index(doc, "## `["+table+"]`")
				if start < 0 {
					start = strings.Index(doc, "## `[["+table+"]]`")
				}
				if start < 0 {
					continue // reported above
				}
				section = doc[start:]
				if end := strings.Index(section[3:], "\n## "); end >= 0 {
					section = section[:end+3]
				}
			}
			if !strings.Contains(section, "`"+tag+"`") {
				where := "the top-level keys"
				if table != "" {
					where = "[" + table + "]"
				}
				t.Errorf("docs/configuration.md does not document %s in %s", tag, where)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
}

// isTable reports whether t decodes a TOML table: a struct with toml tags
// (not a value such as Duration or netip.Addr).
func isTable(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("toml") != "" {
			return true
		}
	}
	return false
}
