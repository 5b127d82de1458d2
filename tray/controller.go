package tray

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/dnspin/dnspin/internal/control"
)

// Client is what the tray needs from the service's control API; the
// control package's *Client implements it.
type Client interface {
	Status(ctx context.Context) (control.Status, error)
	// Events streams a status on every change; the channel closes when the
	// connection ends (for example when the service restarts).
	Events(ctx context.Context) (<-chan control.Status, error)
	SetMode(ctx context.Context, mode string) error
	Check(ctx context.Context) (control.CheckReport, error)
	Report(ctx context.Context) ([]byte, error)
}

var _ Client = (*control.Client)(nil)

// Config is what a Controller needs. Zero durations take the defaults.
type Config struct {
	Client  Client
	Lang    Lang
	Version string // the tray's own version, for "About"
	// Render shows a view. It is called from the controller's goroutine,
	// only when the view changed; it must not call back into the
	// controller except through Click.
	Render func(View)
	// SaveReport stores a support report; default: SaveReport into
	// UserReportDirs.
	SaveReport func(data []byte, now time.Time) (Place, string, error)
	Logger     *slog.Logger
	Now        func() time.Time
	// After is time.After; tests inject a clock they advance by hand.
	After func(time.Duration) <-chan time.Time

	Refresh      time.Duration // re-read status while connected (answer counters): 30s
	Poll         time.Duration // re-read status when live updates are unavailable: 5s
	NoticeFor    time.Duration // how long an action's result stays in the menu: 2m
	StatusTime   time.Duration // timeout of one status read: 5s
	ModeTime     time.Duration // timeout of a mode switch: 10s
	CheckTime    time.Duration // timeout of a connection check: 90s
	ReportTime   time.Duration // timeout of fetching a support report: 60s
	MaxBackoff   time.Duration // longest wait between reconnects: 30s
	BackupWindow time.Duration // how long "backup addresses used just now" lasts: 5m
}

// Controller connects the model to the service: it keeps the status
// current (live events, periodic refresh, reconnect with backoff when the
// service restarts), runs menu actions, and renders views. Every call to
// the service runs in its own goroutine with a timeout; Click never
// blocks, so the tray's UI thread never waits on the service.
type Controller struct {
	cfg    Config
	clicks chan ItemID
}

// NewController fills in defaults. Run starts it.
func NewController(cfg Config) *Controller {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Refresh, 30*time.Second)
	def(&cfg.Poll, 5*time.Second)
	def(&cfg.NoticeFor, 2*time.Minute)
	def(&cfg.StatusTime, 5*time.Second)
	def(&cfg.ModeTime, 10*time.Second)
	def(&cfg.CheckTime, 90*time.Second)
	def(&cfg.ReportTime, 60*time.Second)
	def(&cfg.MaxBackoff, 30*time.Second)
	def(&cfg.BackupWindow, 5*time.Minute)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Render == nil {
		cfg.Render = func(View) {}
	}
	if cfg.SaveReport == nil {
		cfg.SaveReport = func(data []byte, now time.Time) (Place, string, error) {
			return SaveReport(UserReportDirs(), data, now)
		}
	}
	return &Controller{cfg: cfg, clicks: make(chan ItemID, 16)}
}

// Click forwards a menu click. It never blocks: if clicks pile up faster
// than the controller takes them, the extra ones are dropped, like a
// double click on a button that is already working.
func (c *Controller) Click(id ItemID) {
	select {
	case c.clicks <- id:
	default:
		c.cfg.Logger.Debug("tray: click dropped, controller busy", "item", id)
	}
}

// Backoff is the wait before reconnect attempt n (0-based): 1s, 2s, 4s, …
// up to max.
func Backoff(n int, max time.Duration) time.Duration {
	d := time.Second
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// Messages from the goroutines to the loop.
type (
	statusMsg struct{ s control.Status }
	modeDone  struct {
		err error
		s   *control.Status
	}
	checkDone struct {
		r   control.CheckReport
		err error
	}
	reportDone struct {
		place Place
		file  string
		err   error
	}
)

// errStreamEnded: the live update stream closed; reconnect at once.
var errStreamEnded = errors.New("live status updates ended")

// Run renders the first view and keeps the tray current until ctx ends or
// the user clicks Quit; both return nil.
func (c *Controller) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := c.cfg
	msgs := make(chan any)
	send := func(m any) {
		select {
		case msgs <- m:
		case <-ctx.Done():
		}
	}

	in := Input{TrayVersion: cfg.Version}
	tracker := BackupTracker{Window: cfg.BackupWindow}
	var last *View
	render := func() {
		in.Now = cfg.Now()
		in.RecentBackup = tracker.Recent(in.Now)
		v := Update(in, cfg.Lang)
		if last != nil && reflect.DeepEqual(*last, v) {
			return
		}
		last = &v
		cfg.Render(v)
	}

	sessionDone := make(chan error, 1)
	startSession := func() { go func() { sessionDone <- c.session(ctx, send) }() }
	var retry, noticeExpiry <-chan time.Time
	attempt := 0
	connected := false
	setOutcome := func(o Outcome) {
		in.Busy, in.Outcome = BusyNone, o
		noticeExpiry = cfg.After(cfg.NoticeFor)
	}

	render()
	startSession()
	for {
		select {
		case <-ctx.Done():
			return nil

		case err := <-sessionDone:
			if errors.Is(err, errStreamEnded) {
				// Keep showing the last status: the service may be
				// restarting, and the next session tells. Waiting a
				// moment keeps a stream that ends at once from spinning.
				cfg.Logger.Info("tray: live status updates ended; reconnecting")
				retry = cfg.After(Backoff(attempt, cfg.MaxBackoff))
				attempt++
				continue
			}
			if connected || attempt == 0 {
				cfg.Logger.Info("tray: service not reachable; will retry", "err", err)
			}
			connected = false
			in.Status = nil
			render()
			retry = cfg.After(Backoff(attempt, cfg.MaxBackoff))
			attempt++

		case <-retry:
			retry = nil
			startSession()

		case <-noticeExpiry:
			noticeExpiry = nil
			in.Outcome = OutcomeNone
			render()

		case m := <-msgs:
			switch m := m.(type) {
			case statusMsg:
				if !connected {
					cfg.Logger.Info("tray: connected to the service", "state", m.s.State, "mode", m.s.Mode)
				}
				connected, attempt = true, 0
				s := m.s
				in.Status = &s
				tracker.Observe(s.Answers, cfg.Now())
			case modeDone:
				if m.err != nil {
					cfg.Logger.Warn("tray: switching mode failed", "err", m.err)
					setOutcome(OutcomeSwitchFailed)
				} else {
					in.Busy = BusyNone
					if m.s != nil {
						in.Status = m.s
					}
				}
			case checkDone:
				switch {
				case m.err != nil:
					cfg.Logger.Warn("tray: connection check failed to run", "err", m.err)
					setOutcome(OutcomeCheckFailed)
				case m.r.OK:
					setOutcome(OutcomeCheckOK)
				default:
					in.Problems = 0
					for _, r := range m.r.Results {
						if !r.OK {
							in.Problems++
						}
					}
					in.Problems = max(in.Problems, 1)
					setOutcome(OutcomeCheckProblems)
				}
			case reportDone:
				if m.err != nil {
					cfg.Logger.Warn("tray: saving support report failed", "err", m.err)
					setOutcome(OutcomeSaveFailed)
				} else {
					cfg.Logger.Info("tray: support report saved", "file", m.file)
					in.SavedPlace, in.SavedFile = m.place, m.file
					setOutcome(OutcomeSaved)
				}
			}
			render()

		case id := <-c.clicks:
			if id == ItemQuit {
				return nil
			}
			if id == ItemStatus {
				// The sentence is an enabled item so that it is drawn as
				// legibly as the actions; a click re-reads the status, or
				// reconnects at once while the service is unreachable.
				switch {
				case in.Status != nil:
					go func() {
						sctx, cancel := context.WithTimeout(ctx, cfg.StatusTime)
						defer cancel()
						if st, err := cfg.Client.Status(sctx); err == nil {
							send(statusMsg{st})
						}
					}()
				case retry != nil:
					retry = nil
					startSession()
				}
				continue
			}
			if !c.start(ctx, id, &in, send) {
				continue
			}
			noticeExpiry = nil
			render()
		}
	}
}

// start begins the action for a clicked item in its own goroutine and
// marks the input busy. It returns false when the click does nothing (the
// item is disabled in the current view, or it is not an action).
func (c *Controller) start(ctx context.Context, id ItemID, in *Input, send func(any)) bool {
	cfg := c.cfg
	s := in.Status
	if s == nil || in.Busy != BusyNone {
		return false
	}
	switch id {
	case ItemMode:
		if !s.Activated {
			return false
		}
		mode := "pinned"
		if s.Mode == "pinned" {
			mode = "auto"
		}
		in.Busy = BusySwitching
		go func() {
			cctx, cancel := context.WithTimeout(ctx, cfg.ModeTime)
			defer cancel()
			if err := cfg.Client.SetMode(cctx, mode); err != nil {
				send(modeDone{err: fmt.Errorf("switching to %s: %w", mode, err)})
				return
			}
			// Show the new mode at once rather than waiting for the event.
			st, err := cfg.Client.Status(cctx)
			if err != nil {
				send(modeDone{})
				return
			}
			send(modeDone{s: &st})
		}()
	case ItemCheck:
		in.Busy = BusyChecking
		go func() {
			cctx, cancel := context.WithTimeout(ctx, cfg.CheckTime)
			defer cancel()
			r, err := cfg.Client.Check(cctx)
			send(checkDone{r, err})
		}()
	case ItemReport:
		in.Busy = BusySaving
		go func() {
			cctx, cancel := context.WithTimeout(ctx, cfg.ReportTime)
			defer cancel()
			data, err := cfg.Client.Report(cctx)
			if err != nil {
				send(reportDone{err: fmt.Errorf("fetching the support report: %w", err)})
				return
			}
			place, file, err := cfg.SaveReport(data, cfg.Now())
			send(reportDone{place, file, err})
		}()
	default:
		return false
	}
	in.Outcome = OutcomeNone
	return true
}

// session is one connection to the service: read the status, then follow
// live events, re-reading the status every Refresh (Poll when live events
// are unavailable). It returns when the connection is lost.
func (c *Controller) session(ctx context.Context, send func(any)) error {
	cfg := c.cfg
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	read := func() (control.Status, error) {
		sctx, scancel := context.WithTimeout(ctx, cfg.StatusTime)
		defer scancel()
		return cfg.Client.Status(sctx)
	}
	s, err := read()
	if err != nil {
		return err
	}
	send(statusMsg{s})
	events, err := cfg.Client.Events(ctx)
	every := cfg.Refresh
	if err != nil {
		cfg.Logger.Info("tray: live status updates unavailable; polling", "err", err)
		events, every = nil, cfg.Poll
	}
	tick := cfg.After(every)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s, ok := <-events:
			if !ok {
				return errStreamEnded
			}
			send(statusMsg{s})
		case <-tick:
			s, err := read()
			if err != nil {
				return err
			}
			send(statusMsg{s})
			tick = cfg.After(every)
		}
	}
}
