package control

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestStatusJSONDocumented: `dnspin status --json` points support staff to
// docs/support.md "Status JSON", so every field of the status object must be
// named there (as `field`), nested ones included.
func TestStatusJSONDocumented(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/support.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "## Status JSON")
	if start < 0 {
		t.Fatal(`docs/support.md has no "## Status JSON" section`)
	}
	section := doc[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !strings.Contains(section, "`"+name+"`") && !strings.Contains(section, `"`+name+`"`) {
				t.Errorf("docs/support.md \"Status JSON\" does not name %s%s", path, name)
			}
			walk(typ.Field(i).Type, path+name+".")
		}
	}
	walk(reflect.TypeOf(Status{}), "")
}
