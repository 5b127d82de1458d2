// Package tray is dnspin's tray app: a pure model that turns the service's
// status into what box-office staff see (icon colour, one sentence, a short
// menu, in English, German or French), a controller that talks to the
// service without ever blocking the menu, and one thin binding file to the
// systray library. Everything but the binding is tested without a desktop.
package tray

import (
	"strconv"
	"time"

	"github.com/dnspin/dnspin/internal/control"
)

// Icon is the colour of the tray icon.
type Icon int

// The icon colours, from "nothing to worry about" to "call support".
const (
	IconGrey  Icon = iota // service not running, or not switched on for this computer
	IconGreen             // normal
	IconAmber             // degraded, recovering, or backup addresses in use
	IconRed               // outage and some protected name has no backup
)

func (i Icon) String() string {
	switch i {
	case IconGreen:
		return "green"
	case IconAmber:
		return "amber"
	case IconRed:
		return "red"
	}
	return "grey"
}

// ItemID names a menu item; the binding maps clicks back to these.
type ItemID string

// The menu, top to bottom. About has the three info lines as a submenu.
const (
	ItemStatus       ItemID = "status" // the status sentence; a click re-reads the status
	ItemNotice       ItemID = "notice" // result of the last action, hidden when there is none
	ItemMode         ItemID = "mode"   // "Use backup addresses now" / "Return to automatic"
	ItemCheck        ItemID = "check"
	ItemReport       ItemID = "report"
	ItemAbout        ItemID = "about"
	ItemAboutVersion ItemID = "about.version"
	ItemAboutService ItemID = "about.service"
	ItemAboutBundle  ItemID = "about.bundle"
	ItemQuit         ItemID = "quit"
)

// Item is one menu entry as it should look now.
type Item struct {
	ID      ItemID
	Parent  ItemID // "" for the top level
	Label   string
	Enabled bool
	Visible bool
	// SeparatorBefore draws a line above the item (top level only).
	SeparatorBefore bool
}

// View is everything the binding shows. Items always has the same IDs in
// the same order, so the binding creates the menu once and then updates it.
type View struct {
	Icon    Icon
	Tooltip string
	Status  string
	Items   []Item
}

// Item returns the item with the given id (zero Item if there is none).
func (v View) Item(id ItemID) Item {
	for _, it := range v.Items {
		if it.ID == id {
			return it
		}
	}
	return Item{}
}

// Busy is the action the controller is running, if any. While one runs,
// all action items are disabled.
type Busy int

// Actions that take a moment; while one runs its menu item is disabled.
const (
	BusyNone Busy = iota
	BusySwitching
	BusyChecking
	BusySaving
)

// Outcome is how the last finished action went, shown under the status.
type Outcome int

// Outcomes the notice line can report.
const (
	OutcomeNone Outcome = iota
	OutcomeSwitchFailed
	OutcomeCheckOK
	OutcomeCheckProblems
	OutcomeCheckFailed
	OutcomeSaved
	OutcomeSaveFailed
)

// Place is where a support report was written, so the notice can say it in
// the user's words ("on your desktop").
type Place int

// Places for a saved report, in the order they are tried.
const (
	PlaceDesktop Place = iota
	PlaceDocuments
	PlaceOther
)

// Input is everything the view depends on. The controller fills it; tests
// build it by hand.
type Input struct {
	// Status is the service's last status; nil when the service cannot be
	// reached (not running, or being restarted).
	Status *control.Status
	// RecentBackup is true when backup (pinned or learned) answers were
	// served within the last few minutes (see BackupTracker).
	RecentBackup bool
	Busy         Busy
	Outcome      Outcome
	Problems     int    // OutcomeCheckProblems: how many checks failed
	SavedPlace   Place  // OutcomeSaved
	SavedFile    string // OutcomeSaved: file name, or full path for PlaceOther
	TrayVersion  string
	Now          time.Time
}

// Update turns the input into the view in the given language. It is a pure
// function: same input, same view.
func Update(in Input, lang Lang) View {
	t := TextsFor(lang)
	s := in.Status
	icon, key := classify(s, in.RecentBackup)
	sentence := t.Text(key)
	if s != nil && s.Platform.Name != "" && icon != IconGrey {
		sentence = t.Text(KeyStatusWithName, "platform", s.Platform.Name, "status", sentence)
	}
	running := s != nil
	active := running && s.Activated

	modeLabel := t.Text(KeyUseBackup)
	if running && s.Mode == "pinned" {
		modeLabel = t.Text(KeyReturnAuto)
	}
	notice := noticeText(t, in)
	// One action at a time: while one runs, the others wait greyed out, so
	// a second click cannot queue up behind a slow one.
	idle := in.Busy == BusyNone

	version := in.TrayVersion
	if version == "" {
		version = "dev"
	}
	serviceVersion := ""
	if running {
		serviceVersion = s.Version
	}

	v := View{
		Icon:    icon,
		Status:  sentence,
		Tooltip: cutUTF16(t.Text(KeyTooltip, "status", sentence), maxTooltip),
		Items: []Item{
			// Enabled: a disabled item is drawn light grey, the hardest line
			// in the menu to read, and this one is written for the user.
			{ID: ItemStatus, Label: sentence, Enabled: true, Visible: true},
			{ID: ItemNotice, Label: notice, Visible: notice != ""},
			{ID: ItemMode, Label: modeLabel, Enabled: active && idle, Visible: true, SeparatorBefore: true},
			{ID: ItemCheck, Label: t.Text(KeyCheck), Enabled: running && idle, Visible: true},
			{ID: ItemReport, Label: t.Text(KeySaveReport), Enabled: running && idle, Visible: true},
			{ID: ItemAbout, Label: t.Text(KeyAbout), Enabled: true, Visible: true, SeparatorBefore: true},
			{ID: ItemAboutVersion, Parent: ItemAbout, Label: t.Text(KeyAboutVersion, "version", version), Visible: true},
			{ID: ItemAboutService, Parent: ItemAbout, Label: t.Text(KeyAboutService, "version", serviceVersion), Visible: serviceVersion != ""},
			{ID: ItemAboutBundle, Parent: ItemAbout, Label: bundleText(t, s, in.Now), Visible: running},
			{ID: ItemQuit, Label: t.Text(KeyQuit), Enabled: true, Visible: true, SeparatorBefore: true},
		},
	}
	return v
}

// classify picks the icon and the status sentence. The order of the cases
// is the priority: an unreachable or switched-off service hides everything
// else; an outage with a gap in the backups is the one red case.
func classify(s *control.Status, recentBackup bool) (Icon, Key) {
	switch {
	case s == nil:
		return IconGrey, KeyNotRunning
	case !s.Activated:
		return IconGrey, KeyNotActivated
	}
	passthrough := s.Mode == "passthrough"
	pinned := s.Mode == "pinned"
	switch s.State {
	case "normal":
		switch {
		case pinned:
			return IconAmber, KeyPinnedByHand
		case recentBackup && !passthrough:
			return IconAmber, KeyRecentBackup
		case passthrough:
			return IconGreen, KeyNormalNoBackup
		}
		return IconGreen, KeyNormal
	case "outage":
		switch {
		case passthrough:
			// No backup answers at all in passthrough: every protected
			// name is without a backup.
			return IconRed, KeyOutageNoBackup
		case len(s.Unprotected) > 0:
			return IconRed, KeyOutageUncovered
		}
		// The service checks backup addresses by TLS; an older one, or
		// one with checks off, says nothing and keeps the plain sentence.
		switch s.Platform.Verification {
		case "verified":
			return IconAmber, KeyOutageVerified
		case "not_verified":
			return IconAmber, KeyOutageUnverified
		}
		return IconAmber, KeyOutageCovered
	case "recovering":
		if pinned {
			return IconAmber, KeyPinnedByHand
		}
		return IconAmber, KeyRecovering
	}
	// "degraded", and any state a newer service may add: be cautious.
	if pinned {
		return IconAmber, KeyPinnedByHand
	}
	return IconAmber, KeyDegraded
}

func noticeText(t Texts, in Input) string {
	switch in.Busy {
	case BusySwitching:
		return t.Text(KeySwitching)
	case BusyChecking:
		return t.Text(KeyChecking)
	case BusySaving:
		return t.Text(KeySaving)
	}
	switch in.Outcome {
	case OutcomeSwitchFailed:
		return t.Text(KeySwitchFailed)
	case OutcomeCheckOK:
		return t.Text(KeyCheckOK)
	case OutcomeCheckProblems:
		if in.Problems == 1 {
			return t.Text(KeyCheckProblem)
		}
		return t.Text(KeyCheckProblems, "n", strconv.Itoa(in.Problems))
	case OutcomeCheckFailed:
		return t.Text(KeyCheckFailed)
	case OutcomeSaved:
		switch in.SavedPlace {
		case PlaceDesktop:
			return t.Text(KeySavedDesktop, "file", in.SavedFile)
		case PlaceDocuments:
			return t.Text(KeySavedDocuments, "file", in.SavedFile)
		}
		return t.Text(KeySavedElsewhere, "file", in.SavedFile)
	case OutcomeSaveFailed:
		return t.Text(KeySaveFailed)
	}
	return ""
}

func bundleText(t Texts, s *control.Status, now time.Time) string {
	if s == nil {
		return ""
	}
	b := s.Bundle
	if b == nil {
		return t.Text(KeyAboutNoBundle)
	}
	serial := strconv.FormatUint(b.Serial, 10)
	exp, err := time.Parse(time.RFC3339, b.Expires)
	if b.Expires == "" || err != nil {
		return t.Text(KeyAboutBundleNoEnd, "serial", serial)
	}
	if b.Expired || (!now.IsZero() && now.After(exp)) {
		return t.Text(KeyAboutBundleOld, "serial", serial, "date", t.Date(exp))
	}
	return t.Text(KeyAboutBundle, "serial", serial, "date", t.Date(exp))
}

// BackupTracker decides whether backup answers were served recently, from
// the answer counters in successive status snapshots. The counters count
// since the service started, so only an increase between two snapshots
// says anything about "recently"; a drop means the service restarted and
// becomes the new baseline.
type BackupTracker struct {
	Window time.Duration // how long "recently" lasts; 0 means 5 minutes

	seen bool
	last uint64
	at   time.Time
}

// Observe records one snapshot taken at now.
func (b *BackupTracker) Observe(a control.Answers, now time.Time) {
	n := a.Pinned + a.Learned
	if b.seen && n > b.last {
		b.at = now
	}
	b.seen, b.last = true, n
}

// Recent reports whether backup answers were served within the window.
func (b *BackupTracker) Recent(now time.Time) bool {
	w := b.Window
	if w == 0 {
		w = 5 * time.Minute
	}
	return !b.at.IsZero() && now.Sub(b.at) < w
}
