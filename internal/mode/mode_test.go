package mode

import "testing"

func TestParse(t *testing.T) {
	for _, s := range []string{"auto", "pinned", "passthrough"} {
		if m, err := Parse(s); err != nil || string(m) != s {
			t.Errorf("Parse(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "Auto", "pinned ", "fast"} {
		if m, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %q, want an error", s, m)
		}
	}
	if _, err := Parse("fast"); err == nil || err.Error() != `unknown mode "fast": use auto, pinned or passthrough` {
		t.Errorf("Parse(fast) error = %v", err)
	}
}
