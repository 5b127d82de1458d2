package tray

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/control"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var now = time.Date(2026, 11, 26, 0, 30, 0, 0, time.UTC)

func status(state, mode string, activated bool, unprotected ...string) *control.Status {
	return &control.Status{
		Version:     "1.4.0",
		Mode:        mode,
		State:       state,
		Activated:   activated,
		Platform:    control.Platform{Name: "Example Tickets", Domains: []string{"tickets.example"}},
		Bundle:      &control.Bundle{Serial: 42, Expires: "2026-12-01T00:00:00Z"},
		Unprotected: unprotected,
	}
}

// TestClassify covers every state × mode × activation × "a name has no
// backup" × "backup answers served recently", plus "not running".
func TestClassify(t *testing.T) {
	t.Parallel()
	type want struct {
		icon Icon
		key  Key
	}
	// expect is the rule from the issue, written independently of classify.
	expect := func(state, mode string, activated, gap, recent bool) want {
		if !activated {
			return want{IconGrey, KeyNotActivated}
		}
		if state == "outage" {
			if mode == "passthrough" {
				return want{IconRed, KeyOutageNoBackup}
			}
			if gap {
				return want{IconRed, KeyOutageUncovered}
			}
			return want{IconAmber, KeyOutageCovered}
		}
		if mode == "pinned" {
			return want{IconAmber, KeyPinnedByHand}
		}
		switch state {
		case "degraded":
			return want{IconAmber, KeyDegraded}
		case "recovering":
			return want{IconAmber, KeyRecovering}
		}
		if recent && mode == "auto" {
			return want{IconAmber, KeyRecentBackup}
		}
		if mode == "passthrough" {
			return want{IconGreen, KeyNormalNoBackup}
		}
		return want{IconGreen, KeyNormal}
	}
	n := 0
	for _, state := range []string{"normal", "degraded", "outage", "recovering"} {
		for _, mode := range []string{"auto", "pinned", "passthrough"} {
			for _, activated := range []bool{true, false} {
				for _, gap := range []bool{false, true} {
					for _, recent := range []bool{false, true} {
						var unprot []string
						if gap {
							unprot = []string{"pay.tickets.example"}
						}
						s := status(state, mode, activated, unprot...)
						icon, key := classify(s, recent)
						w := expect(state, mode, activated, gap, recent)
						if icon != w.icon || key != w.key {
							t.Errorf("%s/%s activated=%v gap=%v recent=%v: got %v %s, want %v %s",
								state, mode, activated, gap, recent, icon, key, w.icon, w.key)
						}
						n++
					}
				}
			}
		}
	}
	if icon, key := classify(nil, true); icon != IconGrey || key != KeyNotRunning {
		t.Errorf("not running: got %v %s", icon, key)
	}
	if icon, _ := classify(status("something-new", "auto", true), false); icon != IconAmber {
		t.Errorf("unknown state must be amber, got %v", icon)
	}
	if n != 96 {
		t.Fatalf("covered %d combinations, want 96", n)
	}
}

// TestUpdateMenu checks the menu every language shows for every state,
// mode and for a stopped service.
func TestUpdateMenu(t *testing.T) {
	t.Parallel()
	type input struct {
		name string
		s    *control.Status
	}
	var inputs []input
	inputs = append(inputs, input{"not running", nil})
	for _, state := range []string{"normal", "degraded", "outage", "recovering"} {
		for _, mode := range []string{"auto", "pinned", "passthrough"} {
			inputs = append(inputs, input{state + "/" + mode, status(state, mode, true, "pay.tickets.example")})
			inputs = append(inputs, input{state + "/" + mode + "/off", status(state, mode, false)})
		}
	}
	for _, lang := range Langs() {
		tx := TextsFor(lang)
		for _, in := range inputs {
			t.Run(string(lang)+"/"+in.name, func(t *testing.T) {
				v := Update(Input{Status: in.s, TrayVersion: "1.4.1", Now: now}, lang)
				running := in.s != nil
				active := running && in.s.Activated
				// Enabled in every state: a disabled item is drawn light grey.
				if got := v.Item(ItemStatus); !got.Enabled || !got.Visible || got.Label != v.Status || v.Status == "" {
					t.Errorf("status item %+v, status %q: want a visible, enabled (legible) item with the sentence", got, v.Status)
				}
				if running && active && !strings.HasPrefix(v.Status, "Example Tickets") {
					t.Errorf("status %q does not name the platform", v.Status)
				}
				if !strings.Contains(v.Tooltip, v.Status) && utf16Len(v.Tooltip) < maxTooltip {
					t.Errorf("tooltip %q lacks the status %q", v.Tooltip, v.Status)
				}
				mode := v.Item(ItemMode)
				wantLabel := tx.Text(KeyUseBackup)
				if running && in.s.Mode == "pinned" {
					wantLabel = tx.Text(KeyReturnAuto)
				}
				if mode.Label != wantLabel || mode.Enabled != active {
					t.Errorf("mode item %+v, want label %q enabled=%v", mode, wantLabel, active)
				}
				for _, id := range []ItemID{ItemCheck, ItemReport} {
					if it := v.Item(id); it.Enabled != running || it.Label == "" {
						t.Errorf("%s item %+v, want enabled=%v", id, it, running)
					}
				}
				if it := v.Item(ItemQuit); !it.Enabled || it.Label != tx.Text(KeyQuit) {
					t.Errorf("quit item %+v", it)
				}
				if it := v.Item(ItemNotice); it.Visible {
					t.Errorf("notice visible with nothing to say: %+v", it)
				}
				if it := v.Item(ItemAboutVersion); !strings.Contains(it.Label, "1.4.1") || it.Parent != ItemAbout {
					t.Errorf("about version %+v", it)
				}
				if it := v.Item(ItemAboutBundle); it.Visible != running || (running && !strings.Contains(it.Label, "42")) {
					t.Errorf("about bundle %+v", it)
				}
				if it := v.Item(ItemAboutService); it.Visible != running || (running && !strings.Contains(it.Label, "1.4.0")) {
					t.Errorf("about service %+v", it)
				}
			})
		}
	}
}

func TestNoticesAndBusy(t *testing.T) {
	t.Parallel()
	s := status("normal", "auto", true)
	cases := []struct {
		in       Input
		notice   Key
		disabled ItemID
	}{
		{Input{Busy: BusySwitching}, KeySwitching, ItemMode},
		{Input{Busy: BusyChecking}, KeyChecking, ItemCheck},
		{Input{Busy: BusySaving}, KeySaving, ItemReport},
		{Input{Outcome: OutcomeSwitchFailed}, KeySwitchFailed, ""},
		{Input{Outcome: OutcomeCheckOK}, KeyCheckOK, ""},
		{Input{Outcome: OutcomeCheckProblems, Problems: 1}, KeyCheckProblem, ""},
		{Input{Outcome: OutcomeCheckProblems, Problems: 3}, KeyCheckProblems, ""},
		{Input{Outcome: OutcomeCheckFailed}, KeyCheckFailed, ""},
		{Input{Outcome: OutcomeSaved, SavedPlace: PlaceDesktop, SavedFile: "r.txt"}, KeySavedDesktop, ""},
		{Input{Outcome: OutcomeSaved, SavedPlace: PlaceDocuments, SavedFile: "r.txt"}, KeySavedDocuments, ""},
		{Input{Outcome: OutcomeSaved, SavedPlace: PlaceOther, SavedFile: "/home/x/r.txt"}, KeySavedElsewhere, ""},
		{Input{Outcome: OutcomeSaveFailed}, KeySaveFailed, ""},
	}
	for _, lang := range Langs() {
		tx := TextsFor(lang)
		for _, c := range cases {
			c.in.Status = s
			v := Update(c.in, lang)
			want := tx.Text(c.notice, "n", "3", "file", c.in.SavedFile)
			if got := v.Item(ItemNotice); !got.Visible || got.Label != want || got.Enabled {
				t.Errorf("%s %s: notice %+v, want %q", lang, c.notice, got, want)
			}
			for _, id := range []ItemID{ItemMode, ItemCheck, ItemReport} {
				if got := v.Item(id).Enabled; got == (c.disabled != "") {
					t.Errorf("%s %s: %s enabled=%v", lang, c.notice, id, got)
				}
			}
		}
	}
}

func TestBundleLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		b    *control.Bundle
		lang Lang
		want string
	}{
		{nil, English, "Backup addresses from the installed settings"},
		{&control.Bundle{Serial: 7}, German, "Ersatzadressliste Nr. 7"},
		{&control.Bundle{Serial: 7, Expires: "2026-12-03T10:00:00Z"}, English, "Backup address list no. 7, valid until 3 December 2026"},
		{&control.Bundle{Serial: 7, Expires: "2026-12-03T10:00:00Z"}, German, "Ersatzadressliste Nr. 7, gültig bis 3. Dezember 2026"},
		{&control.Bundle{Serial: 7, Expires: "2026-12-01T10:00:00Z"}, French, "Liste d’adresses de secours n°\u00a07, valable jusqu’au 1er décembre 2026"},
		{&control.Bundle{Serial: 7, Expires: "2026-03-01T10:00:00Z"}, German, "Ersatzadressliste Nr. 7, abgelaufen am 1. März 2026"},
		{&control.Bundle{Serial: 7, Expires: "2026-12-03T10:00:00Z", Expired: true}, English, "Backup address list no. 7, expired on 3 December 2026"}, // the service's word counts
		{&control.Bundle{Serial: 7, Expires: "not a date"}, French, "Liste d’adresses de secours n°\u00a07"},
	}
	for _, c := range cases {
		s := status("normal", "auto", true)
		s.Bundle = c.b
		if got := Update(Input{Status: s, Now: now}, c.lang).Item(ItemAboutBundle).Label; got != c.want {
			t.Errorf("%s %+v: got %q, want %q", c.lang, c.b, got, c.want)
		}
	}
}

func TestTooltipFitsWindows(t *testing.T) {
	t.Parallel()
	s := status("outage", "passthrough", true)
	s.Platform.Name = strings.Repeat("Very Long Platform Name ", 10)
	for _, lang := range Langs() {
		v := Update(Input{Status: s}, lang)
		if n := utf16Len(v.Tooltip); n > maxTooltip {
			t.Errorf("%s tooltip has %d UTF-16 units", lang, n)
		}
	}
}

func TestBackupTracker(t *testing.T) {
	t.Parallel()
	t0 := now
	var b BackupTracker
	steps := []struct {
		at     time.Duration
		pinned uint64
		recent bool
	}{
		{0, 50, false},                 // first snapshot is only a baseline
		{time.Minute, 50, false},       // no new backup answers
		{2 * time.Minute, 51, true},    // one more
		{6 * time.Minute, 51, true},    // 4 minutes later: still recent
		{7*time.Minute + 1, 51, false}, // window over
		{8 * time.Minute, 3, false},    // service restarted: new baseline
		{9 * time.Minute, 4, true},
	}
	for i, st := range steps {
		at := t0.Add(st.at)
		b.Observe(control.Answers{Pinned: st.pinned}, at)
		if got := b.Recent(at); got != st.recent {
			t.Errorf("step %d: recent=%v, want %v", i, got, st.recent)
		}
	}
}

// TestGoldenViews writes every view in every language to a file a reviewer
// can read, so wording changes show up in diffs.
func TestGoldenViews(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	inputs := []struct {
		name string
		in   Input
	}{
		{"not running", Input{}},
		{"switched off", Input{Status: status("normal", "auto", false)}},
		{"normal", Input{Status: status("normal", "auto", true)}},
		{"normal, backup used", Input{Status: status("normal", "auto", true), RecentBackup: true}},
		{"normal, passthrough", Input{Status: status("normal", "passthrough", true)}},
		{"pinned by hand", Input{Status: status("normal", "pinned", true)}},
		{"degraded", Input{Status: status("degraded", "auto", true)}},
		{"outage, covered", Input{Status: status("outage", "auto", true)}},
		{"outage, gap", Input{Status: status("outage", "auto", true, "pay.tickets.example")}},
		{"outage, passthrough", Input{Status: status("outage", "passthrough", true)}},
		{"recovering", Input{Status: status("recovering", "auto", true)}},
		{"check problems", Input{Status: status("normal", "auto", true), Outcome: OutcomeCheckProblems, Problems: 2}},
		{"saved", Input{Status: status("normal", "auto", true), Outcome: OutcomeSaved, SavedFile: "dnspin-report-20261126-003000.txt"}},
	}
	for _, lang := range Langs() {
		for _, c := range inputs {
			c.in.TrayVersion, c.in.Now = "1.4.1", now
			v := Update(c.in, lang)
			fmt.Fprintf(&buf, "== %s: %s\nicon: %s\ntooltip: %s\n", lang, c.name, v.Icon, v.Tooltip)
			for _, it := range v.Items {
				if !it.Visible {
					continue
				}
				flags := ""
				if !it.Enabled {
					flags = " (disabled)"
				}
				indent := "  "
				if it.Parent != "" {
					indent = "      "
				}
				if it.SeparatorBefore {
					fmt.Fprintf(&buf, "%s----\n", indent)
				}
				fmt.Fprintf(&buf, "%s[%s] %s%s\n", indent, it.ID, it.Label, flags)
			}
		}
	}
	golden(t, "views.golden", buf.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tray -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the views built now; if the change is intended, run go test ./tray -update and review the diff", path)
	}
}

// TestClassifyVerification: in a covered outage the sentence says whether
// the backup addresses passed the service's TLS check; a gap stays red.
func TestClassifyVerification(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		verification string
		gap          bool
		icon         Icon
		key          Key
	}{
		{"", false, IconAmber, KeyOutageCovered},
		{"verified", false, IconAmber, KeyOutageVerified},
		{"not_verified", false, IconAmber, KeyOutageUnverified},
		{"not_verified", true, IconRed, KeyOutageUncovered},
		{"verified", true, IconRed, KeyOutageUncovered},
	} {
		var unprot []string
		if tc.gap {
			unprot = []string{"pay.tickets.example"}
		}
		s := status("outage", "auto", true, unprot...)
		s.Platform.Verification = tc.verification
		if icon, key := classify(s, false); icon != tc.icon || key != tc.key {
			t.Errorf("verification %q gap=%v: got %v %s, want %v %s", tc.verification, tc.gap, icon, key, tc.icon, tc.key)
		}
		s.State = "normal" // outside an outage the check changes nothing
		if _, key := classify(s, false); key != KeyNormal {
			t.Errorf("normal with verification %q: %s", tc.verification, key)
		}
	}
	for _, lang := range []Lang{English, German, French} {
		v, u := catalogs()[lang][KeyOutageVerified], catalogs()[lang][KeyOutageUnverified]
		if v == "" || u == "" || v == u || v == catalogs()[lang][KeyOutageCovered] {
			t.Errorf("%s: verified %q and not verified %q must be distinct sentences", lang, v, u)
		}
	}
}
