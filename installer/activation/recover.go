package activation

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// Reasserter is implemented by configurators whose settings the OS may
// overwrite behind dnspin's back (Linux: a DHCP client or NetworkManager
// rewriting resolv.conf). The service calls Reassert every few seconds while
// active: if the settings were replaced, the new ones become the "original"
// in the journal and dnspin's settings are applied again (changed = true).
// With no active journal it does nothing.
type Reasserter interface {
	Reassert(ctx context.Context) (changed bool, err error)
}

// DryRunner is implemented by configurators that can describe what Apply
// would do (backend, files and their new content, commands) without changing
// anything; `dnspin activate --dry-run` prints it.
type DryRunner interface {
	DryRun(ctx context.Context, p Plan) (string, error)
}

// Recover handles a journal left by an earlier run that did not finish
// (crash, kill -9, power loss, reboot while active): it restores exactly what
// the journal recorded and removes it. wasActive says dnspin was meant to be
// active and plan is what was applied: the caller re-applies it once its
// resolver answers. With no journal it returns false, nil, nil.
//
// Call it at every start of the service and of `dnspin activate`, before
// anything else touches DNS settings.
func Recover(ctx context.Context, o Options) (wasActive bool, plan *Plan, err error) {
	o = o.withDefaults()
	j, err := ReadJournal(o.FS, o.StateDir)
	if err != nil || j == nil {
		return false, nil, err
	}
	o.Logger.Warn("activation: journal from an earlier run found; restoring the original DNS settings",
		"journal", filepath.Join(o.StateDir, JournalFile), "backend", j.Backend, "active", j.Active)
	c, err := NewConfigurator(ctx, o)
	if err != nil {
		return false, nil, fmt.Errorf("recovering from %s: %w", filepath.Join(o.StateDir, JournalFile), err)
	}
	if err := c.Restore(ctx); err != nil {
		return false, nil, err
	}
	p := j.Plan
	return j.Active, &p, nil
}

// Watch is the resolv.conf watcher: on every tick until ctx ends it calls
// r.Reassert and hands the outcome to report (which may be nil). The service
// passes time.NewTicker(5*time.Second).C; tests pass their own channel.
func Watch(ctx context.Context, r Reasserter, tick <-chan time.Time, report func(changed bool, err error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			changed, err := r.Reassert(ctx)
			if report != nil {
				report(changed, err)
			}
		}
	}
}
