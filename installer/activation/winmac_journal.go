package activation

import (
	"fmt"
	"log/slog"
)

// The Windows and macOS configurators share one journal discipline: record
// what is there, write the journal, change; on a plan change put back what
// the new plan no longer touches; restore replays the journal in reverse.
// These helpers are that shared part; the backends supply the replay.

// planSet is the set of records (kind, key) the current plan touches.
type planSet map[string]bool

func (s planSet) add(kind, key string) { s[kind+"|"+key] = true }
func (s planSet) has(r Record) bool    { return s[r.Kind+"|"+r.Key] }

// dropStale puts back the records of an earlier plan that the current one
// (want) no longer touches — a domain removed, scoped after full — and
// forgets them in the journal. It returns the records it put back.
func dropStale(o Options, j *Journal, want planSet, replay func([]Record) error) ([]Record, error) {
	var keep, stale []Record
	for _, r := range j.Records {
		if want.has(r) {
			keep = append(keep, r)
		} else {
			stale = append(stale, r)
		}
	}
	if len(stale) == 0 {
		return nil, nil
	}
	if err := replay(stale); err != nil {
		return stale, err
	}
	j.Records = keep
	return stale, WriteJournal(o.FS, o.StateDir, j)
}

// restoreJournal replays the journal in o.StateDir and removes it. Without
// a journal it calls none (nil: nothing to do). after runs between a
// complete replay and the journal's removal (cache flushes).
func restoreJournal(o Options, backend string, replay func([]Record) error, none func() error, after func(*Journal)) error {
	j, err := ReadJournal(o.FS, o.StateDir)
	if err != nil {
		return err
	}
	if j == nil {
		if none == nil {
			return nil
		}
		return none()
	}
	if j.Active {
		// From here on a crash finishes the restore (Recover) rather than
		// re-applying what the user asked to undo, as on Linux.
		j.Active = false
		if err := WriteJournal(o.FS, o.StateDir, j); err != nil {
			return err
		}
	}
	if err := replay(j.Records); err != nil {
		return fmt.Errorf("restore: %w; the journal in %s is kept, run `dnspin deactivate` again after fixing this", err, o.StateDir)
	}
	after(j)
	if err := RemoveJournal(o.FS, o.StateDir); err != nil {
		return err
	}
	o.Logger.Info("DNS restored", slog.String("backend", backend), slog.Int("records", len(j.Records)))
	return nil
}

// pointsAtLoopback reports whether a DNS server list starts with a
// loopback address: dnspin (or another local resolver) comes first.
func pointsAtLoopback(servers []string) bool {
	return len(servers) > 0 && (servers[0] == "127.0.0.1" || servers[0] == "::1")
}
