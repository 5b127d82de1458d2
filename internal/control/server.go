package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/dnspin/dnspin/internal/mode"
)

// Backend is what the control API serves. The service implements it over the
// resolver, the checks and the installer; tests use a struct of functions.
type Backend interface {
	// Status is the current status (docs/support.md, "Status JSON").
	Status(ctx context.Context) Status
	// Changed returns a channel that is closed at the next change of the
	// status; call it again for the change after that. Counters that move
	// on every answer should not close it: events are for what a user sees.
	Changed() <-chan struct{}
	// SetMode switches the mode ("auto", "pinned", "passthrough", already
	// validated). Its error text is shown to the user.
	SetMode(ctx context.Context, mode string) error
	// Check runs the diagnostics of `dnspin check`.
	Check(ctx context.Context) CheckReport
	// Reload re-reads the config file (administrators only).
	Reload(ctx context.Context) error
	// ReportInputs gathers what goes into a support report.
	ReportInputs(ctx context.Context) ReportInputs
}

// ServerOptions tune Serve. The zero value is usable: root (uid 0) is the
// administrator and the limits below take their defaults.
//
// Who may do what (docs/access.md): every local user may read the status
// (redacted), follow events, run the checks, get a report without the
// configuration and log sections, and switch the mode to auto or pinned
// (the tray's "Use backup addresses now"). Switching to passthrough,
// reloading and the full report need an administrator: root, a member of
// AdminGroup, or on Windows an elevated member of Administrators.
type ServerOptions struct {
	Logger *slog.Logger // nil: discard

	// AdminUID is the administrator's uid (Unix); default 0, root.
	AdminUID int
	// AdminGroup names a group whose members are administrators too
	// (Unix; the service passes "dnspin"); looked up once at Serve. A
	// missing group makes nobody an administrator through it.
	AdminGroup string
	// AdminGID, when not 0, is that group's id directly (tests).
	AdminGID int

	MaxBodyBytes      int64         // request body limit; default 64 KiB
	MaxHeaderBytes    int           // default 16 KiB
	ReadHeaderTimeout time.Duration // default 5s
	RequestTimeout    time.Duration // whole request for everything but events; default 60s
	// MaxConns bounds concurrent connections (default 32). Where the OS
	// names the peer at connect time (Linux, macOS), one user who is not
	// an administrator holds at most MaxConnsPerUser (default 8), and all
	// of them together at most MaxConns - MaxConnsPerUser, so an
	// administrator always gets in.
	MaxConns        int
	MaxConnsPerUser int
	// MaxEventStreams bounds the /v1/events streams of all users who are
	// not administrators together (default 12); each user, administrators
	// too, holds at most MaxEventStreamsPerUser (default 4). So no user can
	// take the streams of another, and an administrator never gets 503
	// because of other users' streams.
	MaxEventStreams        int
	MaxEventStreamsPerUser int
	Heartbeat              time.Duration // SSE comment line interval; default 15s, at most 20s

	// Now is the clock for reports; nil means time.Now.
	Now func() time.Time
}

func (o *ServerOptions) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 64 << 10
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 16 << 10
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 5 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 60 * time.Second
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 32
	}
	if o.MaxConnsPerUser <= 0 {
		o.MaxConnsPerUser = 8
	}
	if o.MaxConnsPerUser >= o.MaxConns {
		// Keep room for administrators and for a second user.
		o.MaxConnsPerUser = max(o.MaxConns/2, 1)
	}
	if o.MaxEventStreams <= 0 {
		o.MaxEventStreams = 12
	}
	if o.MaxEventStreams >= o.MaxConns-o.MaxConnsPerUser {
		// Streams never end by themselves; leave room for status and mode.
		o.MaxEventStreams = max((o.MaxConns-o.MaxConnsPerUser)/2, 1)
	}
	if o.MaxEventStreamsPerUser <= 0 {
		o.MaxEventStreamsPerUser = 4
	}
	if o.MaxEventStreamsPerUser >= o.MaxConnsPerUser {
		// A user's streams must leave that user a connection for mode.
		o.MaxEventStreamsPerUser = max(o.MaxConnsPerUser-1, 1)
	}
	if o.Heartbeat <= 0 || o.Heartbeat > eventsIdle/3 {
		// Clients give up on a stream silent for eventsIdle.
		o.Heartbeat = 15 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Serve answers the control API on ln until ctx is done, then closes ln and
// returns nil. Event streams end when ctx ends.
func Serve(ctx context.Context, ln net.Listener, b Backend, o ServerOptions) error {
	o.defaults()
	if o.AdminGID == 0 && o.AdminGroup != "" {
		gid, err := lookupGroup(o.AdminGroup)
		if err != nil {
			o.Logger.Info("control: no administrators group; only root may switch to passthrough, reload or get the full report", "group", o.AdminGroup, "err", err)
		}
		o.AdminGID = gid
	}
	s := &server{b: b, o: o, streams: newUserSlots(o.MaxEventStreamsPerUser, o.MaxEventStreams), warned: map[string]time.Time{}}
	pl := newPeerListener(ln, o.MaxConns, newUserSlots(o.MaxConnsPerUser, o.MaxConns-o.MaxConnsPerUser), s.identify, o.Logger)
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.RequestTimeout,
		WriteTimeout:      o.RequestTimeout,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext: func(c context.Context, conn net.Conn) context.Context {
			if pc, ok := conn.(*peerConn); ok {
				return context.WithValue(c, peerKey{}, pc.peer)
			}
			return c
		},
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(pl) }()
	select {
	case err := <-errc:
		return fmt.Errorf("control API on %s stopped: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-errc
	return nil
}

type server struct {
	b       Backend
	o       ServerOptions
	streams *userSlots // event streams per user

	warnMu sync.Mutex
	warned map[string]time.Time // last refusal logged at Warn, per user
}

type peerKey struct{}

// route is one endpoint: its method and handler.
type route struct {
	method string
	h      func(*server, http.ResponseWriter, *http.Request)
}

// lookup is the whole API. A switch rather than http.ServeMux so unknown
// paths and wrong methods get JSON errors a client can show.
func lookup(path string) (route, bool) {
	switch path {
	case "/v1/status":
		return route{http.MethodGet, (*server).status}, true
	case "/v1/events":
		return route{http.MethodGet, (*server).events}, true
	case "/v1/mode":
		return route{http.MethodPost, (*server).mode}, true
	case "/v1/check":
		return route{http.MethodPost, (*server).check}, true
	case "/v1/reload":
		return route{http.MethodPost, (*server).reload}, true
	case "/v1/report":
		return route{http.MethodGet, (*server).report}, true
	}
	return route{}, false
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := lookup(r.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s: this dnspin serves /v1/status, /v1/events, /v1/mode, /v1/check, /v1/reload and /v1/report", r.URL.Path))
		return
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s is not supported: use %s", r.Method, r.URL.Path, rt.method))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.o.MaxBodyBytes)
	rt.h(s, w, r)
}

// APIError is a non-2xx answer from the control API.
type APIError struct {
	StatusCode int
	Message    string
}

func (e *APIError) Error() string { return e.Message }

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// readBody reads the (bounded) body and reports a 4xx when it is too big.
func (s *server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", mbe.Limit))
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "cannot read the request body: "+err.Error())
		return nil, false
	}
	return b, true
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.statusOut(r.Context()))
}

// statusOut is the status as it may leave the process: redacted, for every
// user alike (mirror URLs in bundle errors may carry credentials).
func (s *server) statusOut(ctx context.Context) Status {
	return s.b.Status(ctx).Redacted()
}

// ModeRequest is the body of POST /v1/mode.
type ModeRequest struct {
	Mode string `json:"mode"`
}

func (s *server) mode(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, http.StatusBadRequest, `request body is empty: send {"mode":"auto"}, {"mode":"pinned"} or {"mode":"passthrough"}`)
		return
	}
	var req ModeRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		msg := "request body is not valid JSON"
		if err != nil {
			msg += ": " + err.Error()
		}
		writeError(w, http.StatusBadRequest, msg+`; send {"mode":"pinned"}`)
		return
	}
	m, err := mode.Parse(req.Mode)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p := peerOf(r)
	if id := s.identify(p); m == mode.Passthrough && !id.Admin {
		// Passthrough turns the backup addresses off: a box office user may
		// switch between auto and pinned, not remove the protection.
		s.logRefusal(id, "control: switch to passthrough refused: not an administrator", "peer", p)
		writeError(w, http.StatusForbidden, "switching to passthrough turns the backup addresses off and needs an administrator: "+AdminHint("dnspin mode passthrough"))
		return
	}
	if err := s.b.SetMode(r.Context(), string(m)); err != nil {
		s.o.Logger.Warn("control: mode change failed", "mode", m, "peer", p, "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.o.Logger.Info("control: mode changed", "mode", m, "peer", p)
	writeJSON(w, http.StatusOK, s.statusOut(r.Context()))
}

func (s *server) check(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.readBody(w, r); !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.b.Check(r.Context()).Redacted())
}

func (s *server) reload(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.readBody(w, r); !ok {
		return
	}
	p := peerOf(r)
	if id := s.identify(p); !id.Admin {
		s.logRefusal(id, "control: reload refused: not an administrator", "peer", p)
		writeError(w, http.StatusForbidden, "reloading the configuration needs an administrator: "+AdminHint("it"))
		return
	}
	if err := s.b.Reload(r.Context()); err != nil {
		s.o.Logger.Warn("control: reload failed", "peer", p, "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.o.Logger.Info("control: config reloaded", "peer", p)
	writeJSON(w, http.StatusOK, struct {
		Reloaded bool `json:"reloaded"`
	}{true})
}

// ReportScopeHeader says whether a report is "full" or "reduced" (no
// configuration and log: the caller is not an administrator).
const ReportScopeHeader = "Dnspin-Report-Scope"

func (s *server) report(w http.ResponseWriter, r *http.Request) {
	in := s.b.ReportInputs(r.Context())
	if in.Time.IsZero() {
		in.Time = s.o.Now()
	}
	scope := "full"
	if !s.identify(peerOf(r)).Admin {
		// The log and the configuration say more about the network and the
		// mirrors than a box office user needs; the tray's report (status,
		// checks, OS DNS settings) is still enough for a first look.
		scope = "reduced"
		in.ConfigText, in.LogLines = "", nil
		in.Reduced = AdminHint("dnspin report")
	}
	if in.Check == nil { // the backend may leave the checks to us
		c := s.b.Check(r.Context())
		in.Check = &c
	}
	rep := BuildReport(in, s.b.Status(r.Context()))
	w.Header().Set(ReportScopeHeader, scope)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="`+ReportFileName(in.Time)+`"`)
	w.Write(rep)
}

// events streams the status as server-sent events: one "status" event at
// once and one after every change, with comment lines as heartbeats so both
// ends notice a dead connection.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	release, why := s.streams.take(s.identify(peerOf(r)))
	if why != "" {
		writeError(w, http.StatusServiceUnavailable, "too many event streams open ("+why+"): close another dnspin tray or try again later")
		return
	}
	defer release()
	rc := http.NewResponseController(w)
	// The stream outlives RequestTimeout; each write gets its own deadline.
	rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)

	ctx := r.Context()
	hb := time.NewTicker(s.o.Heartbeat)
	defer hb.Stop()
	var last []byte
	for {
		changed := s.b.Changed() // before Status, so no change is missed
		b, err := json.Marshal(s.statusOut(ctx))
		if err != nil {
			return
		}
		if !bytes.Equal(b, last) {
			if !s.write(rc, w, "event: status\ndata: "+string(b)+"\n\n") {
				return
			}
			last = b
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-hb.C:
			if !s.write(rc, w, ": heartbeat\n\n") {
				return
			}
		}
	}
}

func (s *server) write(rc *http.ResponseController, w io.Writer, msg string) bool {
	rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(w, msg); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// Peer is who is on the other end of a control connection, as the OS
// reports it. Known is false where the OS gives no answer.
type Peer struct {
	Known  bool
	UID    int
	GID    int
	Groups []int // all groups: Linux from /proc/PID/status (see peer_linux.go), macOS from LOCAL_PEERCRED
	PID    int
	// lazy, where set, learns who the peer is on first use (Windows:
	// impersonation works only after the request was read).
	lazy *lazyIdentity
}

func (p Peer) String() string {
	if !p.Known {
		return "unknown"
	}
	if p.lazy != nil { // Windows: no uid
		return fmt.Sprintf("pid %d %s", p.PID, p.lazy.String())
	}
	return fmt.Sprintf("uid %d gid %d pid %d", p.UID, p.GID, p.PID)
}

func peerOf(r *http.Request) Peer {
	p, _ := r.Context().Value(peerKey{}).(Peer)
	return p
}

// peerListener bounds concurrent connections, learns each peer's
// credentials as it is accepted and, where they name the user, holds each
// user to a share of the connections.
type peerListener struct {
	net.Listener
	sem      chan struct{}
	users    *userSlots
	identify func(Peer) identity
	refusing chan struct{} // bounds goroutines answering refused connections
	log      *slog.Logger
	done     chan struct{}
	once     sync.Once
}

func newPeerListener(ln net.Listener, max int, users *userSlots, identify func(Peer) identity, log *slog.Logger) *peerListener {
	return &peerListener{Listener: ln, sem: make(chan struct{}, max), users: users, identify: identify,
		refusing: make(chan struct{}, 4), log: log, done: make(chan struct{})}
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.sem
			return nil, err
		}
		p, err := peerCred(c)
		if err != nil {
			l.log.Debug("control: no peer credentials", "err", err)
		}
		release := func() { <-l.sem }
		// Where the OS named the user at connect time, hold users who are
		// not administrators to their share (administrators are trusted,
		// and bounded by sem alone).
		if p.Known && p.lazy == nil { // never lazy: Windows cannot impersonate before a read
			if id := l.identify(p); !id.Admin {
				free, why := l.users.take(id)
				if why != "" {
					<-l.sem
					// Debug: any local user could otherwise push the lines
					// support needs out of the log.
					l.log.Debug("control: connection refused: limit reached", "peer", p, "limit", why)
					l.refuse(c, why)
					continue
				}
				release = func() { free(); <-l.sem }
			}
		}
		return &peerConn{Conn: c, peer: p, release: release}, nil
	}
}

// refuse answers 503 and closes c, in the background and only a few at a
// time, so a user flooding the socket cannot slow down Accept for others.
func (l *peerListener) refuse(c net.Conn, why string) {
	select {
	case l.refusing <- struct{}{}:
	default:
		c.Close()
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		// Answer the request, not before it: an HTTP client drops an
		// answer that comes before its question.
		if _, err := http.ReadRequest(bufio.NewReader(io.LimitReader(c, 64<<10))); err != nil {
			return
		}
		body, _ := json.Marshal(errorBody{Error: "too many connections open (" + why + "): close other dnspin windows or try again later"})
		fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
		io.Copy(io.Discard, io.LimitReader(c, 64<<10)) // a body, until the client closes
	}()
}

func (l *peerListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type peerConn struct {
	net.Conn
	peer    Peer
	once    sync.Once
	release func()
}

func (c *peerConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
