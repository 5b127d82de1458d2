package tray

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/control"
)

// errDown stands in for control.ErrNotRunning until that is on main.
var errDown = errors.New("dnspin service is not running")

// fakeClient is the control API as the tray sees it, in memory.
type fakeClient struct {
	mu       sync.Mutex
	up       bool
	noEvents bool // Events fails: an older service without live updates
	st       control.Status
	streams  []chan control.Status
	modes    []string
	modeErr  error
	modeGate chan struct{} // SetMode waits for it when non-nil
	checks   int
	hang     bool // Check waits until its context ends (a frozen service)
	check    control.CheckReport
	checkErr error
	report   []byte
}

var _ Client = (*fakeClient)(nil)

func (f *fakeClient) Status(ctx context.Context) (control.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.up {
		return control.Status{}, errDown
	}
	return f.st, nil
}

func (f *fakeClient) Events(ctx context.Context) (<-chan control.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.up {
		return nil, errDown
	}
	if f.noEvents {
		return nil, errors.New("404 page not found")
	}
	ch := make(chan control.Status, 16)
	f.streams = append(f.streams, ch)
	return ch, nil
}

// set changes the status and pushes it to every open stream.
func (f *fakeClient) set(change func(*control.Status)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.st)
	for _, s := range f.streams {
		s <- f.st
	}
}

// stop is the service going away: streams close, calls fail.
func (f *fakeClient) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up = false
	for _, s := range f.streams {
		close(s)
	}
	f.streams = nil
}

func (f *fakeClient) start() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up = true
}

func (f *fakeClient) SetMode(ctx context.Context, mode string) error {
	f.mu.Lock()
	gate := f.modeGate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	f.modes = append(f.modes, mode)
	err := f.modeErr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	f.set(func(s *control.Status) { s.Mode = mode })
	return nil
}

func (f *fakeClient) Check(ctx context.Context) (control.CheckReport, error) {
	f.mu.Lock()
	f.checks++
	hang := f.hang
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return control.CheckReport{}, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.check, f.checkErr
}

func (f *fakeClient) Report(ctx context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.up {
		return nil, errDown
	}
	return f.report, nil
}

func (f *fakeClient) modeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.modes...)
}

// fakeClock hands out timers the test fires by hand.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
	added  chan struct{}
}

type fakeTimer struct {
	d  time.Duration
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: now, added: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{d, ch})
	select {
	case c.added <- struct{}{}:
	default:
	}
	return ch
}

// deadline bounds every wait in these tests: a bug fails the test instead
// of hanging it. It is not a timing assertion.
const deadline = 20 * time.Second

// Fire waits until a timer of duration d is pending, advances the clock by
// d and fires it.
func (c *fakeClock) Fire(t *testing.T, d time.Duration) {
	t.Helper()
	stop := time.After(deadline)
	for {
		c.mu.Lock()
		for i, tm := range c.timers {
			if tm.d == d {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				c.now = c.now.Add(d)
				tm.ch <- c.now
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		select {
		case <-c.added:
		case <-stop:
			t.Fatalf("no timer of %v was started", d)
		}
	}
}

// WaitPending waits until a timer of duration d is pending.
func (c *fakeClock) WaitPending(t *testing.T, d time.Duration) {
	t.Helper()
	stop := time.After(deadline)
	for {
		c.mu.Lock()
		for _, tm := range c.timers {
			if tm.d == d {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		select {
		case <-c.added:
		case <-stop:
			t.Fatalf("no timer of %v was started", d)
		}
	}
}
