package resolver

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestHealthStateMachine drives the platform's state with single results:
// each begins after the previous one was counted, as sequential lookups do.
func TestHealthStateMachine(t *testing.T) {
	t.Parallel()
	// Results: F/S/G a client lookup failed / answered slowly / answered
	// well, f/s/g the same from a probe, m a client lookup that missed
	// answer_budget (its result comes separately), z the quiet time after
	// a recovery passing.
	tests := []struct {
		results string
		recover int
		want    string // state after each result
	}{
		{"G", 3, "normal"},
		{"g", 3, "normal"},
		{"F", 3, "degraded"},
		{"f", 3, "degraded"},
		{"m", 3, "degraded"},
		{"mF", 3, "degraded degraded"},
		{"S", 3, "degraded"},
		{"FGGG", 3, "degraded degraded degraded degraded"}, // client lookups never make it better
		{"Fggg", 3, "degraded degraded degraded normal"},
		{"FFF", 3, "degraded degraded outage"},
		{"fff", 3, "degraded degraded outage"},
		{"mFFF", 3, "degraded degraded degraded outage"}, // a miss is not a failure
		{"FFFF", 3, "degraded degraded outage outage"},
		{"FFFGGG", 3, "degraded degraded outage outage outage outage"}, // probes decide recovery
		{"FFFggg", 3, "degraded degraded outage recovering recovering normal"},
		{"FFFgfg", 3, "degraded degraded outage recovering outage recovering"},
		{"FFFgFggg", 3, "degraded degraded outage recovering recovering recovering recovering normal"}, // a client's failure restarts the count
		{"FFFggFggg", 3, "degraded degraded outage recovering recovering recovering recovering recovering normal"},
		{"FFFg", 1, "degraded degraded outage normal"},
		{"FFgF", 3, "degraded degraded degraded degraded"}, // failures must be in a row
		{"FFGF", 3, "degraded degraded degraded outage"},   // a client's good answer does not reset them
		{"SSSS", 3, "degraded degraded degraded degraded"}, // slow is degraded, never an outage
		{"FFSF", 3, "degraded degraded degraded degraded"}, // a slow answer is an answer
		{"FFFS", 3, "degraded degraded outage outage"},     // in an outage only probes count
		{"FFFs", 3, "degraded degraded outage recovering"}, // the platform answers, slowly
		{"FFFsggg", 3, "degraded degraded outage recovering recovering recovering normal"},
		{"FFFss", 3, "degraded degraded outage recovering degraded"}, // and stays slow
		{"FFFgs", 3, "degraded degraded outage recovering degraded"},
		{"sgsgg", 2, "degraded degraded degraded degraded normal"},
		{"ggmg", 2, "normal normal degraded degraded"},
		// Right after probes ended an outage, names clients asked may still
		// fail from the recursive resolver's cache: no new state change.
		{"FFFgggFFF", 3, "degraded degraded outage recovering recovering normal normal normal normal"},
		{"FFFgggm", 3, "degraded degraded outage recovering recovering normal normal"},
		{"FFFgggf", 3, "degraded degraded outage recovering recovering normal degraded"}, // a probe's failure counts
		{"FFFgggzF", 3, "degraded degraded outage recovering recovering normal normal degraded"},
		{"FgggF", 3, "degraded degraded degraded normal normal"},
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
			switch c {
			case 'z':
				clock.Advance(settleAfterRecovery)
			case 'm':
				h.miss("test miss")
			default:
				o := map[rune]outcome{'f': outcomeFailed, 's': outcomeSlow, 'g': outcomeGood}[c|0x20]
				probe := c >= 'a'
				h.report(h.begin(), o, probe, "test result", tt.recover)
			}
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

// TestHealthConcurrentResults: lookups that ran side by side count once,
// so a burst of failures (or of mixed results) cannot declare an outage
// or make the state flap, and each change is logged once.
func TestHealthConcurrentResults(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := newHealth(newClock().Now, slog.New(slog.NewTextHandler(&logs, nil)), func() {})
	tickets := make([]uint64, 50)
	for i := range tickets {
		tickets[i] = h.begin() // 50 lookups under way at once
	}
	for i, tk := range tickets { // they end together, mixed
		o := outcomeFailed
		if i%2 == 1 {
			o = outcomeGood
		}
		h.report(tk, o, i%3 == 0, "burst", 3)
	}
	if st, _, _ := h.get(); st != StateDegraded {
		t.Fatalf("after a burst of 50 concurrent results: %s, want degraded (one failure)", st)
	}
	// Two more sequential failures make three in a row: outage.
	h.report(h.begin(), outcomeFailed, false, "second", 3)
	h.report(h.begin(), outcomeFailed, true, "third", 3)
	if st, _, _ := h.get(); st != StateOutage {
		t.Fatalf("after three failures in a row: %s, want outage", st)
	}
	// A probe that began before the last counted failure does not count.
	stale := h.begin()
	h.report(h.begin(), outcomeFailed, true, "fourth", 3) // in an outage: nothing new, not counted
	h.report(stale, outcomeGood, true, "old probe", 3)
	if st, _, _ := h.get(); st != StateRecovering {
		t.Fatalf("a probe begun during the outage answered: %s, want recovering", st)
	}
	stale = h.begin()
	h.report(h.begin(), outcomeGood, true, "probe", 3)
	h.report(stale, outcomeFailed, false, "old lookup", 3) // began before that probe counted
	if st, _, _ := h.get(); st != StateRecovering {
		t.Fatalf("a failure begun before the last counted probe moved the state: %s", st)
	}
	if n := strings.Count(logs.String(), "platform DNS state changed"); n != 3 {
		t.Errorf("%d state-change log lines, want 3 (normal→degraded→outage→recovering):\n%s", n, logs.String())
	}
}
