package resolver

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestHealthStateMachine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		results string // g = good, f = failure
		recover int
		want    string // state after each result
	}{
		{"g", 3, "normal"},
		{"f", 3, "degraded"},
		{"fg", 3, "degraded degraded"},
		{"fggg", 3, "degraded degraded degraded normal"},
		{"fff", 3, "degraded degraded outage"},
		{"ffff", 3, "degraded degraded outage outage"},
		{"fffggg", 3, "degraded degraded outage recovering recovering normal"},
		{"fffgfg", 3, "degraded degraded outage recovering outage recovering"},
		{"fffg", 1, "degraded degraded outage normal"},
		{"ffgf", 3, "degraded degraded degraded degraded"}, // failures must be in a row
	}
	for _, tt := range tests {
		clock := newClock()
		changes := 0
		h := newHealth(clock.Now, slog.New(slog.DiscardHandler), func() { changes++ })
		var got []string
		prev := StateNormal
		wantChanges := 0
		for _, c := range tt.results {
			clock.Advance(time.Second)
			h.result(c == 'g', "test failure", tt.recover)
			st, since, reason := h.get()
			got = append(got, string(st))
			if st != prev {
				wantChanges++
				if !since.Equal(clock.Now()) || reason == "" {
					t.Errorf("%s: change to %s at %v reason %q; want now and a reason", tt.results, st, since, reason)
				}
			}
			prev = st
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("%s (recover_after %d): %s, want %s", tt.results, tt.recover, g, tt.want)
		}
		if changes != wantChanges {
			t.Errorf("%s: %d change signals, want %d (one per change)", tt.results, changes, wantChanges)
		}
	}
}
