package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBackend is a Backend made of function fields; nil fields fall back to
// a live in-memory status (see newLive).
type fakeBackend struct {
	StatusFn       func(context.Context) Status
	ChangedFn      func() <-chan struct{}
	SetModeFn      func(context.Context, string) error
	CheckFn        func(context.Context) CheckReport
	ReloadFn       func(context.Context) error
	ReportInputsFn func(context.Context) ReportInputs
}

func (f *fakeBackend) Status(ctx context.Context) Status             { return f.StatusFn(ctx) }
func (f *fakeBackend) Changed() <-chan struct{}                      { return f.ChangedFn() }
func (f *fakeBackend) SetMode(ctx context.Context, m string) error   { return f.SetModeFn(ctx, m) }
func (f *fakeBackend) Check(ctx context.Context) CheckReport         { return f.CheckFn(ctx) }
func (f *fakeBackend) Reload(ctx context.Context) error              { return f.ReloadFn(ctx) }
func (f *fakeBackend) ReportInputs(ctx context.Context) ReportInputs { return f.ReportInputsFn(ctx) }

// live is a status that changes, with the Changed contract of Backend.
type live struct {
	mu      sync.Mutex
	st      Status
	ch      chan struct{}
	reloads int
}

func (l *live) set(f func(*Status)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.st)
	close(l.ch)
	l.ch = make(chan struct{})
}

func (l *live) get() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func sampleStatus() Status {
	return Status{
		Version: "1.2.3", Mode: "auto", State: "normal", StateSince: "2026-11-25T14:02:00Z",
		Activation: "scoped", Activated: true, Listen: []string{"127.0.0.1:53"},
		Upstreams: []Upstream{{Address: "192.0.2.53:53", Healthy: true, RTTMs: 3.1}},
		Platform:  Platform{Name: "Example Tickets", Domains: []string{"tickets.example"}, Pins: 2, Learned: 5},
		Answers:   Answers{Upstream: 10, Cache: 4},
	}
}

// newLive returns a backend over a live status whose SetMode really
// changes the status and signals the change.
func newLive() (*fakeBackend, *live) {
	l := &live{st: sampleStatus(), ch: make(chan struct{})}
	return &fakeBackend{
		StatusFn: func(context.Context) Status { return l.get() },
		ChangedFn: func() <-chan struct{} {
			l.mu.Lock()
			defer l.mu.Unlock()
			return l.ch
		},
		SetModeFn: func(_ context.Context, m string) error { l.set(func(s *Status) { s.Mode = m }); return nil },
		CheckFn: func(context.Context) CheckReport {
			return CheckReport{Time: "2026-11-25T14:03:00Z", OK: false, Results: []CheckResult{
				{Name: "system-uses-dnspin", OK: true, Detail: "This computer asks dnspin."},
				{Name: "resolve:shop.tickets.example", OK: false, Detail: "No answer within 2 s."},
			}}
		},
		ReloadFn: func(context.Context) error {
			l.mu.Lock()
			l.reloads++
			l.mu.Unlock()
			return nil
		},
		ReportInputsFn: func(context.Context) ReportInputs {
			return ReportInputs{ConfigPath: "/etc/dnspin/dnspin.toml", ConfigText: "mode = \"auto\"\n", LogLines: []string{"level=INFO msg=started"}}
		},
	}, l
}

// serve starts a real server on a socket in a temp dir and returns its
// address; it stops at the end of the test.
func serve(t *testing.T, b Backend, o ServerOptions) string {
	t.Helper()
	addr := filepath.Join(t.TempDir(), "run", "dnspin.sock")
	serveAt(t, addr, b, o)
	return addr
}

// serveAt starts a real server on addr; it stops at the end of the test,
// and Serve must then return without an error.
func serveAt(t *testing.T, addr string, b Backend, o ServerOptions) {
	t.Helper()
	ln, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, b, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

// testCtx bounds a test that would otherwise hang on a bug; it is not a
// timing assertion.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStatusAndMode(t *testing.T) {
	t.Parallel()
	b, l := newLive()
	addr := serve(t, b, ServerOptions{})
	c := NewClient(addr)
	ctx := testCtx(t)

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := sampleStatus(); fmt.Sprint(st) != fmt.Sprint(want) {
		t.Fatalf("status\n got %+v\nwant %+v", st, want)
	}
	if err := c.SetMode(ctx, "pinned"); err != nil {
		t.Fatal(err)
	}
	if got := l.get().Mode; got != "pinned" {
		t.Fatalf("backend mode %q after SetMode(pinned)", got)
	}
	if st, _ := c.Status(ctx); st.Mode != "pinned" {
		t.Fatalf("status mode %q, want pinned", st.Mode)
	}
	rep, err := c.Check(ctx)
	if err != nil || len(rep.Results) != 2 || rep.Results[1].Name != "resolve:shop.tickets.example" {
		t.Fatalf("check: %+v, %v", rep, err)
	}
}

// The status JSON keeps its documented field names.
func TestStatusWireNames(t *testing.T) {
	t.Parallel()
	b, _ := newLive()
	addr := serve(t, b, ServerOptions{})
	resp, err := rawClient(addr).Get("http://x/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "mode", "state", "state_since", "activation", "activated", "listen", "upstreams", "platform", "answers"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status JSON lacks %q: %v", k, m)
		}
	}
	up := m["upstreams"].([]any)[0].(map[string]any)
	for _, k := range []string{"address", "healthy", "rtt_ms"} {
		if _, ok := up[k]; !ok {
			t.Errorf("upstream lacks %q", k)
		}
	}
	ans := m["answers"].(map[string]any)
	for _, k := range []string{"upstream", "cache", "stale", "pinned", "learned", "servfail"} {
		if _, ok := ans[k]; !ok {
			t.Errorf("answers lacks %q", k)
		}
	}
}

func TestEventsDeliverChanges(t *testing.T) {
	t.Parallel()
	b, l := newLive()
	addr := serve(t, b, ServerOptions{})
	c := NewClient(addr)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()

	ev, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, ok := <-ev
	if !ok || first.Mode != "auto" {
		t.Fatalf("first event %+v, open %v", first, ok)
	}
	// A change made through the API and one made by the service itself.
	if err := c.SetMode(ctx, "pinned"); err != nil {
		t.Fatal(err)
	}
	if s := <-ev; s.Mode != "pinned" {
		t.Fatalf("after SetMode: event mode %q", s.Mode)
	}
	l.set(func(s *Status) { s.State, s.StateSince = "outage", "2026-11-25T15:00:00Z" })
	if s := <-ev; s.State != "outage" {
		t.Fatalf("after outage: event state %q", s.State)
	}
	cancel()
	for range ev { // must close once ctx ends
	}
}

// Events end when the service stops, so the tray notices and reconnects.
func TestEventsEndWhenServerStops(t *testing.T) {
	t.Parallel()
	b, _ := newLive()
	addr := filepath.Join(t.TempDir(), "s.sock")
	ln, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(sctx, ln, b, ServerOptions{}) }()
	ev, err := NewClient(addr).Events(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	<-ev
	stop()
	for range ev {
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(addr); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket still there after stop: %v", err)
	}
	if _, err := NewClient(addr).Status(testCtx(t)); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("after stop: %v, want ErrNotRunning", err)
	}
}

func TestEventsHeartbeat(t *testing.T) {
	t.Parallel()
	b, _ := newLive()
	addr := serve(t, b, ServerOptions{Heartbeat: time.Millisecond})
	req, _ := http.NewRequestWithContext(testCtx(t), "GET", "http://x/v1/events", nil)
	resp, err := rawClient(addr).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var lines []string
	for sc.Scan() && len(lines) < 100 {
		lines = append(lines, sc.Text())
		if sc.Text() == ": heartbeat" {
			if lines[0] != "event: status" || !strings.HasPrefix(lines[1], "data: {") {
				t.Fatalf("stream starts %q", lines[:2])
			}
			return
		}
	}
	t.Fatalf("no heartbeat in %q", lines)
}

// rawClient speaks HTTP over the socket without the Client's conveniences.
func rawClient(addr string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", addr)
	}}}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	b, l := newLive()
	addr := serve(t, b, ServerOptions{MaxBodyBytes: 1024})
	hc := rawClient(addr)
	big := `{"mode":"` + strings.Repeat("a", 4096) + `"}`
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"bad JSON", "POST", "/v1/mode", `{"mode":`, 400, "not valid JSON"},
		{"not an object", "POST", "/v1/mode", `"pinned"`, 400, "not valid JSON"},
		{"trailing data", "POST", "/v1/mode", `{"mode":"auto"} {}`, 400, "not valid JSON"},
		{"unknown field", "POST", "/v1/mode", `{"mode":"auto","force":true}`, 400, "unknown field"},
		{"empty body", "POST", "/v1/mode", ``, 400, "body is empty"},
		{"bad mode", "POST", "/v1/mode", `{"mode":"fast"}`, 400, `unknown mode "fast": use auto, pinned or passthrough`},
		{"oversized mode", "POST", "/v1/mode", big, 413, "larger than 1024 bytes"},
		{"oversized check", "POST", "/v1/check", big, 413, "larger than 1024 bytes"},
		{"unknown path", "GET", "/v1/nope", ``, 404, "no endpoint /v1/nope"},
		{"other version", "GET", "/v2/status", ``, 404, "serves /v1/status"},
		{"wrong method status", "POST", "/v1/status", `{}`, 405, "use GET"},
		{"wrong method mode", "GET", "/v1/mode", ``, 405, "use POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(testCtx(t), tc.method, "http://x"+tc.path, strings.NewReader(tc.body))
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb errorBody
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || json.Unmarshal(raw, &eb) != nil || !strings.Contains(eb.Error, tc.msg) {
				t.Fatalf("%s %s: %d %s; want %d with %q", tc.method, tc.path, resp.StatusCode, raw, tc.code, tc.msg)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content type %q", ct)
			}
		})
	}
	// Huge headers are refused by net/http itself with 431.
	req, _ := http.NewRequestWithContext(testCtx(t), "GET", "http://x/v1/status", nil)
	req.Header.Set("X-Junk", strings.Repeat("j", 64<<10))
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("huge header: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// The mode never changed and the server still answers.
	if st, err := NewClient(addr).Status(testCtx(t)); err != nil || st.Mode != "auto" || l.get().Mode != "auto" {
		t.Fatalf("after bad requests: %+v %v", st, err)
	}
}

// The client shows the server's message for bad input and backend errors.
func TestClientErrors(t *testing.T) {
	t.Parallel()
	b, _ := newLive()
	b.SetModeFn = func(context.Context, string) error {
		return errors.New("cannot switch to pinned: no pins in /etc/dnspin/dnspin.toml; add [[pin]] entries")
	}
	c := NewClient(serve(t, b, ServerOptions{}))
	err := c.SetMode(testCtx(t), "warp")
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 || err.Error() != `unknown mode "warp": use auto, pinned or passthrough` {
		t.Fatalf("bad mode: %v", err)
	}
	err = c.SetMode(testCtx(t), "pinned")
	if !errors.As(err, &ae) || ae.StatusCode != 500 || !strings.Contains(err.Error(), "add [[pin]] entries") {
		t.Fatalf("backend error: %v", err)
	}
}

func TestNotRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, addr := range []string{
		filepath.Join(dir, "missing.sock"),
		filepath.Join(dir, "nodir", "x.sock"),
		staleSocket(t, filepath.Join(dir, "stale.sock")),
	} {
		_, err := NewClient(addr).Status(testCtx(t))
		if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), addr) {
			t.Errorf("%s: %v, want ErrNotRunning naming the address", addr, err)
		}
	}
}

// staleSocket leaves a socket file nobody listens on, as after a crash.
func staleSocket(t *testing.T, addr string) string {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	return addr
}

func TestListen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	// Creates the directory 0755 and the socket 0666.
	addr := filepath.Join(dir, "run", "dnspin", "dnspin.sock")
	ln, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(addr)
	di, _ := os.Stat(filepath.Dir(addr))
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o666 || di.Mode().Perm() != 0o755 {
		t.Fatalf("socket %v, dir %v; want socket 0666 in a 0755 dir", fi.Mode(), di.Mode())
	}
	// A second service on the same address is refused, not stolen from.
	go http.Serve(ln, http.NotFoundHandler())
	if _, err := Listen(addr); err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Fatalf("second Listen: %v", err)
	}
	ln.Close()

	// A stale socket from a crash is replaced.
	stale := staleSocket(t, filepath.Join(dir, "stale.sock"))
	ln2, err := Listen(stale)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	ln2.Close()

	// A regular file in the way is not deleted.
	file := filepath.Join(dir, "file.sock")
	os.WriteFile(file, []byte("keep"), 0o644)
	if _, err := Listen(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("file in the way: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Fatal("Listen touched a regular file")
	}

	// A directory every user can write is refused: anyone could have put
	// up a fake service there.
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o1777)
	if _, err := Listen(filepath.Join(open, "dnspin.sock")); err == nil || !strings.Contains(err.Error(), "writable by every user") {
		t.Fatalf("world-writable dir: %v", err)
	}
}

// Event streams: users who are not administrators share MaxEventStreams,
// each holds at most MaxEventStreamsPerUser; an administrator is held only
// to its own share. (This process is root in CI: AdminUID 4242 makes it a
// plain user; peer_unix_test.go does the same with real other users.)
func TestEventStreamLimit(t *testing.T) {
	t.Parallel()
	open := func(addr string, n int) []error {
		var errs []error
		for i := 0; i < n; i++ {
			ev, err := NewClient(addr).Events(testCtx(t))
			if err == nil {
				<-ev
			}
			errs = append(errs, err)
		}
		return errs
	}
	is503 := func(err error, why string) bool {
		var ae *APIError
		return errors.As(err, &ae) && ae.StatusCode == 503 && strings.Contains(err.Error(), "too many event streams open ("+why+")")
	}
	for _, tc := range []struct {
		name string
		o    ServerOptions
		ok   int
		why  string
	}{
		{"users together", ServerOptions{AdminUID: 4242, MaxEventStreams: 2}, 2, "2 of all users"},
		{"one user", ServerOptions{AdminUID: 4242, MaxEventStreams: 10, MaxEventStreamsPerUser: 3}, 3, "3 of one user"},
		{"administrator beyond the users' total", ServerOptions{AdminUID: os.Geteuid(), MaxEventStreams: 2}, 4, "4 of one user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, _ := newLive()
			addr := serve(t, b, tc.o)
			errs := open(addr, tc.ok+1)
			for i, err := range errs[:tc.ok] {
				if err != nil {
					t.Fatalf("stream %d: %v", i+1, err)
				}
			}
			if err := errs[tc.ok]; !is503(err, tc.why) {
				t.Fatalf("stream %d: %v, want 503 (%s)", tc.ok+1, err, tc.why)
			}
			if _, err := NewClient(addr).Status(testCtx(t)); err != nil {
				t.Fatalf("status with streams open: %v", err)
			}
		})
	}
}

// Connections beyond MaxConns wait; they are served once others close.
func TestConnLimit(t *testing.T) {
	t.Parallel()
	b, _ := newLive()
	// The held connections must outlast the whole test, however slow the
	// machine: a ReadHeaderTimeout that drops them would free a slot.
	// As administrator: only the total bounds it (per-user limits: below).
	addr := serve(t, b, ServerOptions{AdminUID: os.Geteuid(), MaxConns: 2, MaxEventStreams: 1, ReadHeaderTimeout: time.Minute})
	idle := make([]net.Conn, 2)
	for i := range idle {
		c, err := net.Dial("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle[i] = c
	}
	// Two connections are held (for ReadHeaderTimeout, a minute): a third waits.
	// A broken limit would answer within these 300ms almost always; a
	// working one can never answer, however slow the machine.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := NewClient(addr).Status(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third connection while two are held: %v, want it to wait", err)
	}
	idle[0].Close() // frees a slot
	if _, err := NewClient(addr).Status(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// An event stream lives past RequestTimeout (the server lifts the
// deadlines net/http set for the request).
func TestEventsOutliveRequestTimeout(t *testing.T) {
	t.Parallel()
	b, l := newLive()
	addr := serve(t, b, ServerOptions{RequestTimeout: 20 * time.Millisecond})
	ev, err := NewClient(addr).Events(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	<-ev
	start := time.Now()
	for time.Since(start) < 100*time.Millisecond { // wait out 5 request timeouts
		<-time.After(10 * time.Millisecond)
	}
	l.set(func(s *Status) { s.State = "degraded" })
	if s, ok := <-ev; !ok || s.State != "degraded" {
		t.Fatalf("after RequestTimeout: %+v, open %v", s, ok)
	}
}

// A stream that goes silent (frozen service) is dropped by the client so
// the tray reconnects.
func TestEventsClientDropsSilentStream(t *testing.T) {
	t.Parallel()
	addr := filepath.Join(t.TempDir(), "frozen.sock")
	ln, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: status\ndata: {\"mode\":\"auto\"}\n\n")
		w.(http.Flusher).Flush()
		<-release // then nothing, not even heartbeats
	}))
	defer ln.Close()
	c := NewClient(addr)
	// Long enough that a loaded machine cannot stall the reader past it
	// before the first event is read (that would drop the stream early,
	// losing the first event); the stream then goes silent for good.
	c.idle = 2 * time.Second
	ev, err := c.Events(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if s := <-ev; s.Mode != "auto" {
		t.Fatalf("first event %+v", s)
	}
	if _, ok := <-ev; ok {
		t.Fatal("unexpected second event")
	}
}

func TestReloadAsRootAndConfiguredAdmin(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the peer's uid decides")
	}
	b, l := newLive()
	c := NewClient(serve(t, b, ServerOptions{}))
	if err := c.Reload(testCtx(t)); err != nil {
		t.Fatalf("root reload: %v", err)
	}
	// Same peer (root), but the service was told another uid is the admin.
	c2 := NewClient(serve(t, b, ServerOptions{AdminUID: 4242}))
	err := c2.Reload(testCtx(t))
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 403 || !strings.Contains(err.Error(), "needs an administrator") {
		t.Fatalf("reload by non-admin: %v", err)
	}
	b.ReloadFn = func(context.Context) error { return errors.New("config /etc/dnspin/dnspin.toml:3: mode: unknown") }
	if err := c.Reload(testCtx(t)); err == nil || !strings.Contains(err.Error(), "dnspin.toml:3") {
		t.Fatalf("failed reload: %v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reloads != 1 {
		t.Fatalf("backend reloaded %d times, want 1", l.reloads)
	}
}

func TestReportEndpoint(t *testing.T) {
	t.Parallel()
	b, _ := newLive()
	now := time.Date(2026, 11, 25, 14, 5, 0, 0, time.UTC)
	c := NewClient(serve(t, b, ServerOptions{Now: func() time.Time { return now }}))
	rep, err := c.Report(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	s := string(rep)
	for _, want := range []string{
		"dnspin support report\nCreated: 2026-11-25T14:05:00Z\n",
		"Summary: dnspin 1.2.3: OK since 2026-11-25 14:02 UTC: the platform's DNS works",
		`"state": "normal"`,
		"[FAIL] resolve:shop.tickets.example: No answer within 2 s.",
		"== Configuration /etc/dnspin/dnspin.toml (secrets redacted) ==\nmode = \"auto\"",
		"level=INFO msg=started",
		"== End of report ==",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
}

// A client that never finishes its headers is dropped after
// ReadHeaderTimeout; others are served meanwhile and after.
func TestSlowHeadersAreDropped(t *testing.T) {
	t.Parallel()
	b, _ := newLive()
	// Long enough that the good client's headers (sent at once) never run
	// into it on a loaded machine; the slow client never finishes its.
	addr := serve(t, b, ServerOptions{ReadHeaderTimeout: 3 * time.Second})
	c, err := net.Dial("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second)) // hang guard only
	io.WriteString(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\n")
	if _, err := NewClient(addr).Status(testCtx(t)); err != nil {
		t.Fatalf("status while a slow client waits: %v", err)
	}
	rest, err := io.ReadAll(c) // returns once the server closes the connection
	if err != nil {
		t.Fatalf("slow client: %v", err)
	}
	if len(rest) > 0 && !strings.HasPrefix(string(rest), "HTTP/1.1 4") {
		t.Fatalf("slow client got %q", rest)
	}
}

// A panic in the backend costs that one request, not the service.
func TestBackendPanicIsContained(t *testing.T) {
	t.Parallel()
	b, _ := newLive()
	var once sync.Once
	good := b.StatusFn
	b.StatusFn = func(ctx context.Context) Status {
		once.Do(func() { panic("boom") })
		return good(ctx)
	}
	c := NewClient(serve(t, b, ServerOptions{}))
	if _, err := c.Status(testCtx(t)); err == nil {
		t.Fatal("first status succeeded although the backend panicked")
	}
	if st, err := c.Status(testCtx(t)); err != nil || st.Mode != "auto" {
		t.Fatalf("after a panic: %+v %v", st, err)
	}
}

// A user who is not an administrator holds at most MaxConnsPerUser
// connections; one more is answered 503 at once instead of waiting, so
// holding connections cannot lock others out.
func TestConnLimitPerUser(t *testing.T) {
	t.Parallel()
	b, _ := newLive()
	addr := serve(t, b, ServerOptions{AdminUID: 4242, MaxConns: 8, MaxConnsPerUser: 2, ReadHeaderTimeout: time.Minute})
	for i := 0; i < 2; i++ {
		c, err := net.Dial("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	_, err := NewClient(addr).Status(testCtx(t))
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 503 || !strings.Contains(err.Error(), "too many connections open (2 of one user)") {
		t.Fatalf("third connection of one user: %v, want 503", err)
	}
	// An administrator is not held to the users' limits.
	if _, err := NewClient(serve(t, b, ServerOptions{AdminUID: os.Geteuid(), MaxConns: 8, MaxConnsPerUser: 1})).Status(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// Issue 12's leaked URL never leaves the service: not in the status, the
// event stream, the mode answer or the checks, for administrators neither.
func TestAnswersAreRedacted(t *testing.T) {
	t.Parallel()
	b, l := newLive()
	l.set(func(s *Status) {
		s.Bundle = &Bundle{Serial: 3, LastError: leakedURL + ": HTTP 503", Source: leakedURL}
		s.StateReason = "mirror " + leakedURL
	})
	b.CheckFn = func(context.Context) CheckReport {
		return CheckReport{Results: []CheckResult{{Name: "reach:" + leakedURL, Detail: "mirror " + leakedURL + " did not answer"}}}
	}
	addr := serve(t, b, ServerOptions{})
	ctx := testCtx(t)
	c := NewClient(addr)
	leaks := func(what string, v any) {
		t.Helper()
		j, _ := json.Marshal(v)
		if s := string(j); strings.Contains(s, "hunter2") || strings.Contains(s, "SECRET123") || !strings.Contains(s, "https://[redacted]@pins.mirror.example/pins.json?[redacted]") {
			t.Errorf("%s: %s", what, s)
		}
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaks("status", st)
	ev, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaks("event", <-ev)
	cr, err := c.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaks("check", cr)
	rep, err := c.Report(ctx)
	if err != nil || strings.Contains(string(rep), "hunter2") {
		t.Errorf("report: %v\n%s", err, rep)
	}
	// The backend's own status is untouched (the redaction works on a copy).
	if l.get().Bundle.Source != leakedURL {
		t.Error("the backend's status was changed")
	}
}
