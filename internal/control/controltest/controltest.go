// Package controltest runs the real control API server (control.Serve) on
// a local socket with an in-memory service behind it, for tests of the
// clients (the dnspin commands, the tray), in the style of net/http/httptest.
package controltest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/dnspin/dnspin/internal/control"
)

// Backend is a control.Backend over a status kept in memory: SetMode
// changes its mode and wakes Changed, every Status call is counted, and
// each accepted mode is also sent on Modes.
type Backend struct {
	mu        sync.Mutex
	st        control.Status
	changed   chan struct{} // closed and replaced on every change
	reads     int
	check     control.CheckReport
	report    control.ReportInputs
	setModeFn func(mode string) error
	modes     chan string
}

var _ control.Backend = (*Backend)(nil)

// NewBackend returns a Backend reporting st, whose check passes.
func NewBackend(st control.Status) *Backend {
	return &Backend{st: st, changed: make(chan struct{}), check: control.CheckReport{OK: true}, modes: make(chan string, 16)}
}

// Status returns the current status and counts the call.
func (b *Backend) Status(context.Context) control.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reads++
	return b.st
}

// Reads is how many times Status was called.
func (b *Backend) Reads() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reads
}

// Changed is closed at the next change of the status.
func (b *Backend) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

// SetMode asks the hook set by FailSetMode first, then switches the mode.
func (b *Backend) SetMode(_ context.Context, mode string) error {
	b.mu.Lock()
	fn := b.setModeFn
	b.mu.Unlock()
	if fn != nil {
		if err := fn(mode); err != nil {
			return err
		}
	}
	b.Update(func(st *control.Status) { st.Mode = mode })
	select {
	case b.modes <- mode:
	default: // nobody reads Modes: the status carries the mode anyway
	}
	return nil
}

// Modes receives every mode SetMode accepted (up to 16 unread).
func (b *Backend) Modes() <-chan string { return b.modes }

// Update edits the status and wakes Changed.
func (b *Backend) Update(edit func(*control.Status)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	edit(&b.st)
	close(b.changed)
	b.changed = make(chan struct{})
}

// FailSetMode makes SetMode return fn's error (when not nil) before it
// changes anything; nil removes the hook.
func (b *Backend) FailSetMode(fn func(mode string) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setModeFn = fn
}

// Check returns the report set by SetCheck (default: OK, no results).
func (b *Backend) Check(context.Context) control.CheckReport {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.check
}

// SetCheck sets what Check returns.
func (b *Backend) SetCheck(r control.CheckReport) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.check = r
}

// Reload does nothing and succeeds.
func (b *Backend) Reload(context.Context) error { return nil }

// ReportInputs returns what SetReportInputs set (default: nothing).
func (b *Backend) ReportInputs(context.Context) control.ReportInputs {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.report
}

// SetReportInputs sets what ReportInputs returns.
func (b *Backend) SetReportInputs(ri control.ReportInputs) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.report = ri
}

// Serve runs the real control server for be on a socket in a directory of
// its own (readable by everyone, so a test may connect as another user)
// and returns the socket's path. The server stops when the test ends; an
// error from it fails the test.
func Serve(t testing.TB, be control.Backend, o control.ServerOptions) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "dnspin.sock")
	ln, err := control.Listen(sock)
	if err != nil {
		t.Fatalf("control socket %s: %v", sock, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- control.Serve(ctx, ln, be, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("control server on %s: %v", sock, err)
		}
	})
	return sock
}
