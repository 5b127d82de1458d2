//go:build linux

package main

// The real tray, tested for real: a private D-Bus session bus, a small fake
// StatusNotifierWatcher (the part of a desktop panel that collects tray
// icons), the real control API server on a Unix socket with an in-memory
// service behind it, and this package's own main run as a child process. The test reads the menu over D-Bus the way
// a panel does (com.canonical.dbusmenu GetLayout), checks it against the
// model's view, clicks "Use backup addresses now" over D-Bus and sees the
// mode change reach the control server.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/control/controltest"
	"github.com/dnspin/dnspin/tray"
)

const childEnv = "DNSPIN_TRAY_TEST_CHILD_ARGS"

// TestMain lets the test binary act as dnspin-tray when a test starts it
// with DNSPIN_TRAY_TEST_CHILD_ARGS set (arguments separated by newlines).
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childEnv); ok {
		ctx := context.Background()
		os.Exit(run(ctx, strings.Split(args, "\n"), os.Stderr))
	}
	os.Exit(m.Run())
}

// deadline bounds every wait so a bug fails the test instead of hanging it.
const deadline = 30 * time.Second

// startService serves the control API (the real server) on a Unix socket,
// with an in-memory service behind it that records mode switches.
func startService(t *testing.T, st control.Status) (*controltest.Backend, string) {
	t.Helper()
	f := controltest.NewBackend(st)
	return f, controltest.Serve(t, f, control.ServerOptions{})
}

// startBus starts a private session bus and returns its address.
func startBus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon is not installed (apt-get install dbus); the real tray test needs a session bus")
	}
	addr := "unix:path=" + filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(bin, "--session", "--nofork", "--nopidfile", "--print-address=1", "--address="+addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	return strings.TrimSpace(line)
}

// watcher is a minimal org.kde.StatusNotifierWatcher: it records who
// registers a tray icon.
type watcher struct{ items chan string }

func (w *watcher) RegisterStatusNotifierItem(sender dbus.Sender, path string) *dbus.Error {
	w.items <- string(sender) + path
	return nil
}

func (w *watcher) RegisterStatusNotifierHost(sender dbus.Sender, service string) *dbus.Error {
	return nil
}

func startWatcher(t *testing.T, addr string) (*dbus.Conn, *watcher) {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	w := &watcher{items: make(chan string, 10)}
	if err := conn.Export(w, "/StatusNotifierWatcher", "org.kde.StatusNotifierWatcher"); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName("org.kde.StatusNotifierWatcher", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("taking the watcher name: %v %v", reply, err)
	}
	return conn, w
}

type layout struct {
	ID       int32
	Props    map[string]dbus.Variant
	Children []dbus.Variant
}

type menuItem struct {
	id       int32
	label    string
	enabled  bool
	children []menuItem
}

// getMenu calls GetLayout on the tray's menu and returns the visible,
// non-separator items.
func getMenu(t *testing.T, conn *dbus.Conn, sender string) []menuItem {
	t.Helper()
	obj := conn.Object(sender, "/StatusNotifierItem/menu")
	var rev uint32
	var root layout
	if err := obj.Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &root); err != nil {
		t.Fatalf("GetLayout: %v", err)
	}
	return items(t, root.Children)
}

func items(t *testing.T, vs []dbus.Variant) []menuItem {
	var out []menuItem
	for _, v := range vs {
		var l layout
		if err := dbus.Store([]any{v.Value()}, &l); err != nil {
			t.Fatalf("menu layout: %v", err)
		}
		if typ, _ := l.Props["type"].Value().(string); typ == "separator" {
			continue
		}
		if vis, ok := l.Props["visible"].Value().(bool); ok && !vis {
			continue
		}
		label, _ := l.Props["label"].Value().(string)
		enabled, ok := l.Props["enabled"].Value().(bool)
		if !ok {
			enabled = true
		}
		out = append(out, menuItem{id: l.ID, label: label, enabled: enabled, children: items(t, l.Children)})
	}
	return out
}

// wantMenu is the model's view as the panel should show it.
func wantMenu(v tray.View) []menuItem {
	var out []menuItem
	for _, it := range v.Items {
		if !it.Visible {
			continue
		}
		if it.Parent != "" {
			p := &out[len(out)-1]
			p.children = append(p.children, menuItem{label: it.Label, enabled: it.Enabled})
			continue
		}
		out = append(out, menuItem{label: it.Label, enabled: it.Enabled})
	}
	return out
}

func sameMenu(got, want []menuItem) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].label != want[i].label || got[i].enabled != want[i].enabled {
			return false
		}
		// The first GetLayout of a fresh menu returns one level only (a
		// workaround in the library for some panels); compare children
		// when they are there.
		if len(got[i].children) > 0 && !sameMenu(got[i].children, want[i].children) {
			return false
		}
	}
	return true
}

// waitMenu re-reads the menu on every layout or property signal until it
// matches want.
func waitMenu(t *testing.T, conn *dbus.Conn, sig chan *dbus.Signal, sender string, want []menuItem) []menuItem {
	t.Helper()
	stop := time.After(deadline)
	var got []menuItem
	for {
		got = getMenu(t, conn, sender)
		if sameMenu(got, want) {
			return got
		}
		select {
		case <-sig:
		case <-time.After(500 * time.Millisecond): // a signal may have come before we listened
		case <-stop:
			t.Fatalf("menu over D-Bus:\n%s\nwant:\n%s", dump(got), dump(want))
		}
	}
}

func dump(items []menuItem) string {
	var b strings.Builder
	var walk func([]menuItem, string)
	walk = func(its []menuItem, indent string) {
		for _, it := range its {
			fmt.Fprintf(&b, "%s%q enabled=%v\n", indent, it.label, it.enabled)
			walk(it.children, indent+"    ")
		}
	}
	walk(items, "  ")
	return b.String()
}

// iconColour reads the tray icon's pixels (ARGB, as panels get them) and
// returns the average colour of the n opaque ones; n = 0 while the tray has
// not published an icon yet (the library starts with none).
func iconColour(t *testing.T, conn *dbus.Conn, sender string) (r, g, b, n int) {
	t.Helper()
	v, err := conn.Object(sender, "/StatusNotifierItem").GetProperty("org.kde.StatusNotifierItem.IconPixmap")
	if err != nil {
		t.Fatalf("IconPixmap: %v", err)
	}
	var px []struct {
		W, H int32
		Pix  []byte
	}
	if err := dbus.Store([]any{v.Value()}, &px); err != nil {
		t.Fatalf("IconPixmap %v: %v", v.Signature(), err)
	}
	if len(px) == 0 {
		return 0, 0, 0, 0
	}
	for i := 0; i+3 < len(px[0].Pix); i += 4 {
		p := px[0].Pix[i:]
		if p[0] < 200 {
			continue
		}
		r, g, b, n = r+int(p[1]), g+int(p[2]), b+int(p[3]), n+1
	}
	if n == 0 {
		return 0, 0, 0, 0
	}
	return r / n, g / n, b / n, n
}

// checkRaces fails the test for every data race the child reported in
// dnspin code. One race is known and only logged: on SetIcon, godbus's
// prop.SetMust stores the new pixmap into the same slices an earlier
// Get(IconPixmap) handed to a reply that may still be being encoded
// (dbus.Store reuses a destination slice that is long enough). Both
// accesses are inside fyne.io/systray and godbus; dnspin serialises its own
// calls. At worst a panel gets one icon frame mixed from old and new.
func checkRaces(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "race*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, rep := range strings.Split(string(b), "==================") {
			if !strings.Contains(rep, "DATA RACE") {
				continue
			}
			if libraryRace(rep) {
				t.Logf("known data race inside fyne.io/systray and godbus (not dnspin code):\n%s", firstLines(rep, 8))
				continue
			}
			t.Errorf("data race in the tray:\n%s", rep)
		}
	}
}

// libraryRace reports whether both accesses of a race report start in
// fyne.io/systray, godbus or the standard library's reflect package.
func libraryRace(rep string) bool {
	lines := strings.Split(rep, "\n")
	accesses := 0
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if !(strings.HasPrefix(l, "Read at") || strings.HasPrefix(l, "Write at") ||
			strings.HasPrefix(l, "Previous read at") || strings.HasPrefix(l, "Previous write at")) {
			continue
		}
		accesses++
		if i+1 >= len(lines) {
			return false
		}
		top := strings.TrimSpace(lines[i+1])
		if !strings.HasPrefix(top, "fyne.io/systray.") && !strings.HasPrefix(top, "github.com/godbus/dbus/") &&
			!strings.HasPrefix(top, "reflect.") {
			return false
		}
	}
	return accesses == 2
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// tooltipTitle reads the tray's tooltip title (ToolTip is (s a(iiay) s s)).
func tooltipTitle(t *testing.T, conn *dbus.Conn, sender string) string {
	t.Helper()
	tip, err := conn.Object(sender, "/StatusNotifierItem").GetProperty("org.kde.StatusNotifierItem.ToolTip")
	if err != nil {
		t.Fatalf("ToolTip: %v", err)
	}
	var tt struct {
		Icon   string
		Pixmap []struct {
			W, H int32
			Pix  []byte
		}
		Title, Text string
	}
	if err := dbus.Store([]any{tip.Value()}, &tt); err != nil {
		t.Fatalf("ToolTip %v: %v", tip.Signature(), err)
	}
	return tt.Title
}

// waitIcon re-reads the icon on every signal until its colour passes ok.
func waitIcon(t *testing.T, conn *dbus.Conn, sig chan *dbus.Signal, sender, what string, ok func(r, g, b int) bool) {
	t.Helper()
	stop := time.After(deadline)
	for {
		r, g, b, n := iconColour(t, conn, sender)
		if n > 0 && ok(r, g, b) {
			return
		}
		select {
		case <-sig:
		case <-time.After(500 * time.Millisecond):
		case <-stop:
			t.Fatalf("icon colour %d,%d,%d (%d opaque pixels) is not %s", r, g, b, n, what)
		}
	}
}

func TestTrayOverDBus(t *testing.T) {
	for _, c := range []struct {
		lang tray.Lang
		env  string
	}{{tray.English, "en_GB.UTF-8"}, {tray.German, "de_DE.UTF-8"}, {tray.French, "fr_FR.UTF-8"}} {
		t.Run(string(c.lang), func(t *testing.T) { testTray(t, c.lang, c.env) })
	}
}

func testTray(t *testing.T, lang tray.Lang, locale string) {
	addr := startBus(t)
	conn, w := startWatcher(t, addr)
	st := control.Status{
		Version: "1.4.0", Mode: "auto", State: "normal", Activated: true,
		Platform: control.Platform{Name: "Example Tickets"},
		Bundle:   &control.Bundle{Serial: 42, Expires: "2099-01-01T00:00:00Z"},
	}
	fake, sock := startService(t, st)
	cache := t.TempDir()
	races := t.TempDir()
	t.Cleanup(func() { checkRaces(t, races) })

	start := func() (*exec.Cmd, *strings.Builder) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.Env = append(os.Environ(),
			childEnv+"=--control\n"+sock,
			"DBUS_SESSION_BUS_ADDRESS="+addr,
			"XDG_CACHE_HOME="+cache,
			"LANG="+locale, "LC_ALL=", "LC_MESSAGES=", "LANGUAGE=",
			// Under -race, reports go to files checkRaces sorts.
			"GORACE=exitcode=0 log_path="+filepath.Join(races, "race"),
		)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	cmd, out := start()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("tray output:\n%s", out)
		}
	})

	var item string
	select {
	case item = <-w.items:
	case err := <-exited:
		t.Fatalf("tray exited before registering: %v\n%s", err, out)
	case <-time.After(deadline):
		t.Fatalf("tray never registered with the watcher\n%s", out)
	}
	sender, path, _ := strings.Cut(item, "/")
	if path != "StatusNotifierItem" {
		t.Errorf("registered %q", item)
	}

	if err := conn.AddMatchSignal(dbus.WithMatchSender(sender)); err != nil {
		t.Fatal(err)
	}
	sig := make(chan *dbus.Signal, 100)
	conn.Signal(sig)

	// The menu the panel shows is the model's view for this status and
	// the language from LANG.
	want := tray.Update(tray.Input{Status: &st, TrayVersion: version, Now: time.Now()}, lang)
	got := waitMenu(t, conn, sig, sender, wantMenu(want))
	waitIcon(t, conn, sig, sender, "green", func(r, g, b int) bool { return g > r+40 && g > b+40 })
	// The About submenu (the library sends one level on the very first
	// GetLayout only) and the tooltip.
	full := getMenu(t, conn, sender)
	about := wantMenu(want)[len(wantMenu(want))-2]
	if got := full[len(full)-2]; len(got.children) != len(about.children) || !sameMenu(got.children, about.children) {
		t.Errorf("About submenu:\n%s\nwant:\n%s", dump(got.children), dump(about.children))
	}
	stop := time.After(deadline)
	for {
		title := tooltipTitle(t, conn, sender)
		if title == want.Tooltip {
			break
		}
		select {
		case <-sig:
		case <-time.After(500 * time.Millisecond):
		case <-stop:
			t.Fatalf("tooltip %q, want %q", title, want.Tooltip)
		}
	}

	// A second tray for the same user steps aside.
	second, secondOut := start()
	if err := second.Wait(); err != nil || !strings.Contains(secondOut.String(), "already running") {
		t.Errorf("second instance: %v\n%s", err, secondOut)
	}

	// Click "Use backup addresses now" the way a panel does.
	tx := tray.TextsFor(lang)
	click := func(label string, flags dbus.Flags) {
		t.Helper()
		for _, it := range got {
			if it.label == label {
				if err := conn.Object(sender, "/StatusNotifierItem/menu").Call("com.canonical.dbusmenu.Event", flags,
					it.id, "clicked", dbus.MakeVariant(int32(0)), uint32(time.Now().Unix())).Err; err != nil {
					t.Fatalf("Event: %v", err)
				}
				return
			}
		}
		t.Fatalf("no menu item %q in\n%s", label, dump(got))
	}
	click(tx.Text(tray.KeyUseBackup), 0)
	select {
	case m := <-fake.Modes():
		if m != "pinned" {
			t.Errorf("service got mode %q, want pinned", m)
		}
	case <-time.After(deadline):
		t.Fatalf("the click never reached the service\n%s", out)
	}
	st.Mode = "pinned"
	want = tray.Update(tray.Input{Status: &st, TrayVersion: version, Now: time.Now()}, lang)
	got = waitMenu(t, conn, sig, sender, wantMenu(want))
	if got[1].label != tx.Text(tray.KeyReturnAuto) {
		t.Errorf("mode item reads %q after switching", got[1].label)
	}
	waitIcon(t, conn, sig, sender, "amber", func(r, g, b int) bool { return r > b+100 && g > b+60 })

	// The status sentence is an enabled item (legible, not grey); a click
	// on it reads the status again at once.
	if !got[0].enabled || got[0].label != want.Status {
		t.Errorf("status item %q enabled=%v, want %q enabled", got[0].label, got[0].enabled, want.Status)
	}
	before := fake.Reads()
	click(want.Status, 0)
	for stop := time.After(deadline); fake.Reads() == before; {
		select {
		case <-stop:
			t.Fatal("a click on the status sentence did not read the status")
		case <-time.After(50 * time.Millisecond):
		}
	}

	// Quit ends the process cleanly (no reply awaited: the tray may
	// leave the bus before answering, which panels do not mind).
	click(tx.Text(tray.KeyQuit), dbus.FlagNoReplyExpected)
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Errorf("tray exited with %v", err)
		}
	case <-time.After(deadline):
		t.Fatal("tray did not quit")
	}
}
