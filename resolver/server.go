package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Options are the resolver's seams.
type Options struct {
	Logger    *slog.Logger               // nil: discard
	Now       func() time.Time           // nil: time.Now (cache TTLs, stale age, learned age, state_since)
	Upstreams func(addr string) Upstream // nil: real UDP/TCP upstream for addr (test seam)

	limits       *limits // nil: the defaults (maxFlights...); tests shrink them
	freeOSMemory func()  // nil: debug.FreeOSMemory (test seam of trimLoop)
}

// limits are the bounds of admission control.
type limits struct {
	flights, waiting, tcpConns int
	trimEvery                  time.Duration
}

func defaultLimits() limits {
	return limits{flights: maxFlights, waiting: maxWaiting, tcpConns: maxTCPConns, trimEvery: trimEvery}
}

// Resolver is dnspin's DNS server. Create it with New, then Start it.
type Resolver struct {
	log         *slog.Logger
	now         func() time.Time
	newUpstream func(addr string) Upstream

	cfg     atomic.Pointer[settings]
	mode    atomic.Value // Mode
	health  *health
	cache   *cache
	learned *learned
	// backups are pinned and learned answers packed for the fast path,
	// under the query's cache key (see backup); backupGen counts changes
	// of what they are built from: pins, domains, pin verification,
	// learned answers.
	backups   *cache
	backupGen atomic.Uint64
	counts    [len(sources)]atomic.Uint64

	verdicts atomic.Pointer[pinVerdicts] // TLS checks of pinned addresses (verify.go)
	// learnedVerdicts: TLS checks of learned addresses (verify.go)
	learnedVerdicts atomic.Pointer[learnedVerdicts]

	flightMu sync.Mutex
	flights  map[string]*flight // at most maxFlights

	// Admission control (see maxFlights): lookups turned away, and when the
	// refusals were last logged.
	shed         atomic.Uint64
	shedLog      atomic.Int64 // unix nanoseconds of the next log line allowed
	busy         atomic.Bool  // load was high since the last trim check
	lim          limits
	freeOSMemory func()

	mu       sync.Mutex // guards the fields below
	base     Config     // as last given to New or Reconfigure
	bundle   []Pin
	changed  chan struct{}
	noBackup []string
	kick     chan struct{} // an upstream fell silent: the probe loop checks it

	// lifecycle: ctx lives from New to Shutdown
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool
	udp     []*net.UDPConn
	tcp     []*dns.Server
	addrs   []string
	waiting chan struct{} // a slot per query that may wait on upstream (maxWaiting)

	// UDP queries that may wait on upstream go to workers (slowUDP).
	jobs        chan slowJob
	idleWorkers atomic.Int32
	noWait      context.Context // r.ctx, marked: the query must not wait
	timers      sync.Pool       // *time.Timer for queries waiting on upstream (getTimer)
}

// settings is the configuration in effect, swapped atomically as a whole.
type settings struct {
	Config
	domains []string // lower-case FQDNs
	pins    *pinSet
	ups     []*upstreamState
}

var sources = [...]Source{SourceUpstream, SourceCache, SourceStale, SourcePinned, SourceLearned, SourceServfail, SourceLocal}

const cacheIdx = 1 // sources[cacheIdx] == SourceCache: the hot path counts in bulk

func (r *Resolver) count(s Source) {
	if i := sourceIdx(s); i >= 0 {
		r.counts[i].Add(1)
	}
}

// sourceIdx is s's index in sources, -1 if none.
func sourceIdx(s Source) int {
	for i, v := range sources {
		if v == s {
			return i
		}
	}
	return -1
}

const (
	noBackupMax = 32
	saveEvery   = 30 * time.Second
)

// Bounds that hold under any load; past them a query is answered at once
// from what dnspin has (pin, learned, stale), else SERVFAIL, never dropped.
// A lookup with a silent upstream lasts resolveTimeout (3.6 s by default),
// so at 10k queries per second of new names nothing short of these caps
// keeps memory bounded. With them, internal/bench/load.sh (10k qps through
// every upstream fault) saw a live heap under 14 MB and RSS under 50 MB;
// without them, 675 MB (docs/benchmarks.md).
const (
	// maxFlights caps upstream lookups in flight. Each holds up to
	// maxAttempts queries on the shared upstream sockets. A desktop rarely has
	// more than a few dozen; unbound's num-queries-per-thread (1024) and
	// dnsmasq's dns-forward-max (150) are the same kind of bound.
	maxFlights = 512
	// maxAttempts caps the exchanges (queries outstanding upstream) one
	// lookup starts, hedging and retries included.
	maxAttempts = 3
	// maxWaiting caps queries waiting on upstream: UDP queries that are not
	// cache hits, TCP queries and Lookup calls. Past it a UDP query is
	// answered in the reading goroutine without waiting.
	maxWaiting = 1024
	// maxTCPConns caps open client TCP connections (a goroutine each);
	// past it a new connection is closed at once, so the client moves on
	// to its next server instead of waiting.
	maxTCPConns = 256
	// udpRecvBuffer is the receive buffer asked for on listening UDP
	// sockets: 4 MiB hold thousands of queries (about half a second at
	// 10k qps on Linux, which counts each packet's bookkeeping too), time
	// for the readers to catch up after a pause (a GC, a burst, a busy
	// CPU) instead of the kernel dropping queries. Best effort: the kernel
	// may clamp it.
	udpRecvBuffer = 4 << 20
	// shedLogEvery spaces the "over capacity" log lines.
	shedLogEvery = 10 * time.Second
	// trimEvery is how often the resolver looks whether a burst of load is
	// over, to hand its memory back to the OS (see trimLoop).
	trimEvery = 5 * time.Second
)

// New checks cfg, fills in defaults and loads learned answers from
// cfg.StateDir. It opens no sockets; Start does.
func New(cfg Config, o Options) (*Resolver, error) {
	cfg = withDefaults(cfg)
	if err := validate(cfg); err != nil {
		return nil, err
	}
	r := &Resolver{
		log:          o.Logger,
		now:          o.Now,
		newUpstream:  o.Upstreams,
		flights:      map[string]*flight{},
		changed:      make(chan struct{}),
		kick:         make(chan struct{}, 1),
		lim:          defaultLimits(),
		freeOSMemory: o.freeOSMemory,
	}
	if o.limits != nil {
		r.lim = *o.limits
	}
	r.waiting = make(chan struct{}, r.lim.waiting)
	if r.freeOSMemory == nil {
		r.freeOSMemory = debug.FreeOSMemory
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.newUpstream == nil {
		r.newUpstream = func(addr string) Upstream { return newUDPUpstream(addr) }
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.noWait = context.WithValue(r.ctx, noWait{}, true)
	r.jobs = make(chan slowJob)
	r.health = newHealth(r.now, r.log, r.signal)
	r.cache = newCache(cfg.CacheSize)
	r.backups = newCache(cfg.CacheSize)
	l, err := loadLearned(cfg.StateDir, r.now(), cfg.MaxStale)
	if err != nil {
		r.log.Warn("learned answers not all loaded", "err", err)
	}
	l.gen = &r.backupGen
	r.learned = l
	r.mode.Store(cfg.Mode)
	r.base = cfg
	r.applyLocked()
	return r, nil
}

func withDefaults(c Config) Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.AnswerBudget, 300*time.Millisecond)
	def(&c.ClientTimeout, 1800*time.Millisecond)
	def(&c.StaleTTL, 30*time.Second)
	def(&c.MaxStale, 72*time.Hour)
	def(&c.ProbeInterval, time.Second)
	if c.StaleTTL < time.Second {
		c.StaleTTL = time.Second
	}
	if c.RecoverAfter <= 0 {
		c.RecoverAfter = 3
	}
	if c.Mode == "" {
		c.Mode = ModeAuto
	}
	return c
}

func validate(c Config) error {
	if len(c.Listen) == 0 {
		return errors.New("no listen address: set listen, e.g. [\"127.0.0.1:53\"]")
	}
	// Not a check of the user's text (internal/config does that): the
	// client check (acl.go) lets everyone in without AllowRemote because
	// every listener is then on loopback, so the resolver holds to that.
	for _, ap := range c.Listen {
		if !ap.Addr().IsLoopback() && !c.AllowRemote {
			return fmt.Errorf("listen address %s is not a loopback address and AllowRemote is off: dnspin listens on loopback only so it is never an open resolver", ap)
		}
	}
	if c.AllowRemote && len(c.AllowClients) == 0 {
		return errors.New("allow_remote needs a client list: set AllowClients to the networks that may ask, e.g. 192.168.1.0/24 (loopback is always allowed)")
	}
	for _, u := range c.Upstreams {
		if _, err := netip.ParseAddrPort(u); err != nil {
			return fmt.Errorf("upstream %q is not IP:port: write e.g. \"192.0.2.53:53\" (\"system\" must be expanded before the resolver sees it)", u)
		}
	}
	if _, err := ParseMode(string(c.Mode)); err != nil {
		return err
	}
	return nil
}

// applyLocked builds the settings in effect from r.base and r.bundle; r.mu
// held (or r not yet shared). Upstreams keep their health across changes.
func (r *Resolver) applyLocked() {
	c := r.base
	s := &settings{Config: c}
	for _, d := range c.Domains {
		s.domains = append(s.domains, fqdnLower(d))
	}
	var ignored []string
	s.pins, ignored = buildPins(s.domains, c.Pins, r.bundle)
	if len(ignored) > 0 {
		r.log.Warn("pins ignored: outside the protected domains (add the domain to platform.domains) or without valid addresses", "pins", ignored)
	}
	old := map[string]*upstreamState{}
	if prev := r.cfg.Load(); prev != nil {
		for _, u := range prev.ups {
			old[u.u.Address()] = u
		}
	}
	for _, a := range c.Upstreams {
		u := old[a]
		if u == nil {
			u = &upstreamState{u: r.newUpstream(a), kick: r.kickProbes, log: r.log}
		}
		s.ups = append(s.ups, u)
	}
	if len(s.ups) == 0 {
		r.log.Warn("no upstream servers: only pinned and learned answers can be given")
	}
	r.cfg.Store(s)
	r.backupGen.Add(1) // after the store: see backup
	for a, u := range old {
		if !slices.Contains(c.Upstreams, a) { // dropped; exchanges under way finish
			u.close()
		}
	}
}

// resolveTimeout is how long one upstream exchange may take in all. It is
// longer than client_timeout so that, as RFC 8767 has it, resolution goes on
// after a stale answer was given and refreshes the cache; and it stays below
// the 5 s a stub resolver waits, so the client hears SERVFAIL, not silence.
func (c *settings) resolveTimeout() time.Duration {
	return max(2*c.ClientTimeout, 2*c.AnswerBudget)
}

// Start opens UDP and TCP on every listen address and starts the probes.
// When an address cannot be bound it closes what it opened and returns a
// *ListenError.
func (r *Resolver) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("resolver already started")
	}
	if r.ctx.Err() != nil {
		return errors.New("resolver was shut down: create a new one")
	}
	var udp []*net.UDPConn
	var tcp []net.Listener
	var addrs []string
	fail := func(err error) error {
		for _, c := range udp {
			c.Close()
		}
		for _, l := range tcp {
			l.Close()
		}
		return err
	}
	for _, ap := range r.base.Listen {
		a := ap.String()
		for try := 1; ; try++ {
			uc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
			if err != nil {
				return fail(&ListenError{Addr: a, Net: "udp", Err: err})
			}
			if got, err := setRecvBuffer(uc, udpRecvBuffer); err != nil {
				r.log.Warn("UDP receive buffer not enlarged: bursts of queries may be dropped by the kernel", "addr", a, "want", udpRecvBuffer, "err", err)
			} else if got > 0 && got < udpRecvBuffer {
				r.log.Info("UDP receive buffer clamped by the kernel (raise net.core.rmem_max on Linux, kern.ipc.maxsockbuf on macOS)", "addr", a, "want", udpRecvBuffer, "got", got)
			}
			bound := uc.LocalAddr().(*net.UDPAddr).AddrPort()
			bound = netip.AddrPortFrom(ap.Addr(), bound.Port()) // keep the zone-less spelling
			tl, err := net.Listen("tcp", bound.String())
			if err != nil {
				uc.Close()
				if ap.Port() == 0 && try < 20 {
					continue // the port the OS picked for UDP is taken for TCP: pick again
				}
				return fail(&ListenError{Addr: bound.String(), Net: "tcp", Err: err})
			}
			udp, tcp = append(udp, uc), append(tcp, limitListener(tl, r.lim.tcpConns, func() { r.noteShed("TCP connection") }))
			addrs = append(addrs, bound.String())
			break
		}
	}
	r.udp, r.addrs, r.started = udp, addrs, true
	for _, uc := range udp {
		for range r.udpReaders() {
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.serveUDP(uc)
			}()
		}
	}
	for _, l := range tcp {
		srv := &dns.Server{Listener: l, Handler: r, MsgAcceptFunc: acceptQueries,
			ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }}
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		r.tcp = append(r.tcp, srv)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := srv.ActivateAndServe(); err != nil && r.ctx.Err() == nil {
				r.log.Error("TCP listener stopped", "addr", l.Addr().String(), "err", err)
			}
		}()
		<-started // else a quick Shutdown finds it "not started" and it serves on
	}
	r.wg.Add(3)
	go func() { defer r.wg.Done(); r.probeLoop(r.ctx) }()
	go func() { defer r.wg.Done(); r.saveLoop(r.ctx) }()
	go func() { defer r.wg.Done(); r.trimLoop(r.ctx) }()
	c := r.cfg.Load()
	r.log.Debug("dnspin resolver listening", "addrs", addrs, "upstreams", c.Upstreams, "domains", c.Domains, "pins", c.pins.n, "mode", r.Mode())
	return nil
}

// udpReaders is how many goroutines read each listening UDP socket: one
// per CPU, up to 4; answering is what takes time.
func (r *Resolver) udpReaders() int { return min(runtime.GOMAXPROCS(0), 4) }

// acceptQueries lets every query through to ServeDNS, which decides about
// malformed ones itself; replies are ignored.
func acceptQueries(h dns.Header) dns.MsgAcceptAction {
	if h.Bits&(1<<15) != 0 {
		return dns.MsgIgnore
	}
	return dns.MsgAccept
}

// Shutdown stops the listeners and probes and saves learned answers.
func (r *Resolver) Shutdown(ctx context.Context) error {
	r.cancel()
	r.mu.Lock()
	udp, tcp := r.udp, r.tcp
	r.udp, r.tcp = nil, nil
	c := r.cfg.Load()
	r.mu.Unlock()
	// Not under r.mu: a UDP socket's Close waits for its reader to finish
	// the batch at hand, which may take r.mu.
	var errs []error
	for _, c := range udp {
		c.Close()
	}
	for _, s := range tcp {
		if err := s.ShutdownContext(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, u := range c.ups { // ends the lookups still waiting on them
		u.close()
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("waiting for queries to finish: %w", ctx.Err()))
	}
	if err := r.learned.save(r.now(), c.MaxStale); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// saveLoop writes learned answers every saveEvery when they changed, and at
// once when upstream starts failing (the moment a crash would hurt most).
func (r *Resolver) saveLoop(ctx context.Context) {
	t := time.NewTicker(saveEvery)
	defer t.Stop()
	for {
		ch := r.Changed()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ch:
			if r.health.current() == StateNormal {
				continue
			}
		}
		if err := r.learned.save(r.now(), r.cfg.Load().MaxStale); err != nil {
			r.log.Warn("learned answers not saved", "err", err)
		}
	}
}

// Addrs returns the addresses actually bound (":0" resolved).
func (r *Resolver) Addrs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.addrs)
}

// Mode returns the current mode.
func (r *Resolver) Mode() Mode { return r.mode.Load().(Mode) }

// SetMode switches the mode at run time.
func (r *Resolver) SetMode(m Mode) {
	if old := r.mode.Swap(m); old != m {
		r.log.Info("mode changed", "from", old, "to", m)
		r.signal()
	}
}

// Reconfigure applies a new configuration without rebinding: pins, domains,
// upstreams, outage timings and mode. Listen addresses, allow_remote and the
// state dir need a restart.
func (r *Resolver) Reconfigure(cfg Config) error {
	cfg = withDefaults(cfg)
	if err := validate(cfg); err != nil {
		return err
	}
	r.mu.Lock()
	old := r.base
	if !slices.Equal(old.Listen, cfg.Listen) || old.AllowRemote != cfg.AllowRemote || old.StateDir != cfg.StateDir {
		r.mu.Unlock()
		return errors.New("listen, allow_remote or state_dir changed: restart needed (dnspin run, or restart the service)")
	}
	r.base = cfg
	r.applyLocked()
	r.mu.Unlock()
	r.cache.flush() // entries remember whether their name was protected
	r.backups.flush()
	r.SetMode(cfg.Mode)
	r.log.Info("configuration reloaded", "upstreams", cfg.Upstreams, "domains", cfg.Domains, "pins", r.cfg.Load().pins.n)
	return nil
}

// SetBundlePins swaps in the pins of a signed bundle. Config pins win for
// the same name; pins outside the protected domains are ignored and logged.
func (r *Resolver) SetBundlePins(pins []Pin) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(pins) == 0 && len(r.bundle) == 0 {
		return // no bundle before or now (the daemon says so at every start): nothing to rebuild
	}
	r.bundle = slices.Clone(pins)
	r.applyLocked()
}

// Changed returns a channel closed at the next change of state or mode.
func (r *Resolver) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

func (r *Resolver) signal() {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.changed)
	r.changed = make(chan struct{})
}

// kickProbes wakes the probe loop without waiting for it.
func (r *Resolver) kickProbes() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Resolver) noteNoBackup(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := slices.Index(r.noBackup, name); i >= 0 {
		r.noBackup = slices.Delete(r.noBackup, i, i+1)
	}
	r.noBackup = slices.Insert(r.noBackup, 0, name)
	if len(r.noBackup) > noBackupMax {
		r.noBackup = r.noBackup[:noBackupMax]
	}
}

// Status returns a snapshot for status displays.
func (r *Resolver) Status() Snapshot {
	c := r.cfg.Load()
	st, since, reason := r.health.get()
	s := Snapshot{
		Mode: r.Mode(), State: st, StateSince: since, StateReason: reason,
		Pins:    c.pins.n,
		Learned: r.learned.names(r.now(), c.MaxStale),
		Answers: map[Source]uint64{},
	}
	for _, u := range c.ups {
		s.Upstreams = append(s.Upstreams, u.status())
	}
	for i, src := range sources {
		s.Answers[src] = r.counts[i].Load()
	}
	r.mu.Lock()
	s.Listen = slices.Clone(r.addrs)
	if s.Listen == nil {
		for _, ap := range r.base.Listen {
			s.Listen = append(s.Listen, ap.String())
		}
	}
	s.NoBackup = slices.Clone(r.noBackup)
	r.mu.Unlock()
	return s
}

// flight is one upstream exchange that every identical query waits on.
type flight struct {
	done chan struct{}
	e    *entry // the answer, when err is nil
	err  error

	// The lookup, for receive.
	r         *Resolver
	key       string
	name      string // lower-case FQDN
	qtype     uint16
	protected bool
	c         *settings
	ticket    uint64    // health's, for protected names
	start     time.Time // protected names: when the lookup started
}

// startFlight starts the upstream exchange for a's key, or joins the one
// under way. The exchange runs on the resolver's context, not the client's:
// it ends after resolveTimeout and fills the cache (and learned answers for
// protected names) whoever is still waiting.
//
// It returns nil when the query must not wait on upstream: maxFlights
// lookups are under way already, or ctx says so (admit found no room). The
// caller then answers at once with what it has (pin, learned, stale) or
// SERVFAIL.
func (r *Resolver) startFlight(ctx context.Context, a *asked) *flight {
	if mustNotWait(ctx) {
		r.noteShed("query")
		return nil
	}
	r.flightMu.Lock()
	if f := r.flights[string(a.key)]; f != nil {
		r.flightMu.Unlock()
		return f
	}
	n := len(r.flights)
	if n >= r.lim.flights {
		r.flightMu.Unlock()
		r.noteShed("upstream lookup")
		return nil
	}
	f := &flight{done: make(chan struct{}), r: r, key: string(a.key), name: a.name, qtype: a.qtype, protected: a.protected, c: a.c}
	r.flights[f.key] = f
	r.flightMu.Unlock()
	if n >= r.lim.flights/4 {
		r.busy.Store(true)
	}

	wire := appendUpQuery(make([]byte, 0, 12+len(a.wq.name)+4+11), a.wq.name, a.qtype, a.wq.cd, a.wq.do)
	if a.protected { // only the platform's own names speak for its health
		f.ticket = r.health.begin()
	}
	// No goroutine of its own: the exchange calls receive from the
	// goroutine that delivers its outcome (an upstream socket's reader, a
	// timer).
	r.wg.Add(1)
	if a.protected {
		f.start = time.Now() // for judge
	}
	c := a.c
	startExchange(r.ctx, c.resolveTimeout(), c.ups, wire, c.resolveTimeout()/6, f)
	return f
}

// receive takes the outcome of the flight's exchange: it fills the cache
// and learned answers and wakes the queries waiting.
func (f *flight) receive(b []byte, err error) {
	r := f.r
	defer r.wg.Done()
	defer func() { // waiters hear the result, or the error of a bug
		if v := recover(); v != nil {
			f.err = fmt.Errorf("internal error: %v", v)
			r.logPanic("upstream lookup", v)
		}
		r.flightMu.Lock()
		delete(r.flights, f.key)
		r.flightMu.Unlock()
		close(f.done)
	}()
	if f.protected && r.ctx.Err() == nil {
		o, why := judge(f.name+" "+dns.TypeToString[f.qtype], err, time.Since(f.start), f.c.AnswerBudget)
		r.health.report(f.ticket, o, false, why, f.c.RecoverAfter)
	}
	now := r.now()
	if err == nil {
		f.e, err = newEntryWire(b, now, f.protected)
		if err == nil && f.e.fresh(now) {
			r.cache.put(f.key, f.e)
		}
		if err == nil && f.protected {
			resp := new(dns.Msg)
			if resp.Unpack(b) == nil {
				if rrs := learnable(resp); rrs != nil {
					r.learned.put(f.name, f.qtype, rrs, now)
				}
			}
		}
	}
	f.err = err
}

// noWait marks a context whose query must not wait on upstream.
type noWait struct{}

func mustNotWait(ctx context.Context) bool { return ctx.Value(noWait{}) != nil }

// tryAdmit takes a slot of r.waiting for a query that may wait on
// upstream; the caller gives it back (<-r.waiting) when it has answered.
func (r *Resolver) tryAdmit() bool {
	select {
	case r.waiting <- struct{}{}:
		return true
	default:
		return false
	}
}

// admit takes a slot for a query that may wait on upstream. Without a free
// slot the query still gets an answer, only without waiting: the returned
// context makes startFlight refuse. done gives the slot back.
func (r *Resolver) admit(ctx context.Context) (_ context.Context, done func()) {
	if r.tryAdmit() {
		return ctx, func() { <-r.waiting }
	}
	return context.WithValue(ctx, noWait{}, true), func() {}
}

// errOverCapacity is the SERVFAIL reason when a query could not wait.
var errOverCapacity = errors.New("dnspin is over capacity: too many upstream lookups under way, answered without waiting")

// noteShed counts a query or connection turned away by admission control
// and logs it, at most once per shedLogEvery, with the load at that moment.
func (r *Resolver) noteShed(what string) {
	n := r.shed.Add(1)
	r.busy.Store(true)
	now := r.now().UnixNano()
	next := r.shedLog.Load()
	if now < next || !r.shedLog.CompareAndSwap(next, now+int64(shedLogEvery)) {
		return
	}
	r.flightMu.Lock()
	flights := len(r.flights)
	r.flightMu.Unlock()
	r.log.Warn("over capacity: answering from pins, learned or stale answers, else SERVFAIL, without waiting on upstream",
		"turned_away", what, "total_turned_away", n, "lookups", flights, "max_lookups", r.lim.flights,
		"waiting", len(r.waiting), "max_waiting", r.lim.waiting, "goroutines", runtime.NumGoroutine())
}

// trimLoop hands memory back to the OS once a burst of load is over. The
// Go runtime returns freed memory only gradually, and without allocation
// no collection runs for up to two minutes: after a burst with a failing
// upstream the process would keep its peak (tens of MB) long after. So it
// forces a collection and returns free memory at the 1st, 2nd, 4th, 8th
// and 16th quiet trimEvery after a busy one (5 to 80 s): the later ones
// catch what the first minute allocates (the learned answers saved, the
// probes). A few forced collections of a heap of ~10 MB per burst cost
// milliseconds.
func (r *Resolver) trimLoop(ctx context.Context) {
	t := time.NewTicker(r.lim.trimEvery)
	defer t.Stop()
	quiet := -1 // quiet ticks since the last busy one; -1: no burst yet
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		busy := r.busy.Swap(false)
		r.flightMu.Lock()
		flights := len(r.flights)
		r.flightMu.Unlock()
		if flights >= r.lim.flights/4 || len(r.waiting) >= r.lim.waiting/4 {
			busy = true
		}
		switch {
		case busy:
			quiet = 0
		case quiet >= 0 && quiet < 16:
			quiet++
			if quiet&(quiet-1) == 0 { // 1, 2, 4, 8, 16
				r.freeOSMemory()
				r.log.Debug("load burst over: memory handed back to the OS", "quiet_for", time.Duration(quiet)*r.lim.trimEvery)
			}
		}
	}
}

// survive turns a panic while answering into an error log and a SERVFAIL
// (then) instead of a dead resolver: one bad query must not take DNS away
// from the whole machine. It must be deferred directly.
func (r *Resolver) survive(what string, then func()) {
	if v := recover(); v != nil {
		r.logPanic(what, v)
		r.count(SourceServfail)
		if then != nil {
			then()
		}
	}
}

func (r *Resolver) logPanic(what string, v any) {
	r.log.Error("BUG: recovered from a panic; please report it with this log", "while", what, "panic", v, "stack", string(debug.Stack()))
}

// unwrapSyscall shortens "listen udp 127.0.0.1:53: bind: address already in
// use" to "address already in use": ListenError names the address itself.
func unwrapSyscall(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// limitListener hands out at most n connections at once. Past that it
// closes new ones at once: a client then tries its next server now, where
// a connection left in the accept queue would cost it its whole timeout.
func limitListener(l net.Listener, n int, full func()) net.Listener {
	return &limitedListener{Listener: l, slots: make(chan struct{}, n), full: full}
}

type limitedListener struct {
	net.Listener
	slots chan struct{}
	full  func()
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			c.Close()
			l.full()
		}
	}
}

// limitedConn gives its slot back on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
