//go:build wine && linux

package winetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/nstest"
)

// The virtual desktop's size. Wine's explorer puts its taskbar along the
// bottom and the notification area at its right end; with no window
// manager on the Xvfb screen, the desktop window sits at 0,0.
const (
	deskW, deskH = 800, 600
	// Where the tray icon is: the notification area's only icon, at the
	// taskbar's right end (Wine 8 has no clock there; found on a screenshot).
	iconX, iconY = deskW - 12, deskH - 14
)

// TestTrayUnderWine runs the real dnspin-tray.exe in Wine's virtual desktop
// under Xvfb against a real `dnspin.exe run`, in English, German and
// French: it must connect over the named pipe (its log says so, with the
// service's state), and a click on its icon must open the menu (the screen
// changes around the icon). With DNSPIN_TRAY_SHOTS=DIR it also saves
// DIR/tray-windows-LANG.png, cropped to the menu and taskbar
// (packaging/wine/tray-screenshot.sh).
func TestTrayUnderWine(t *testing.T) {
	dir := env(t)
	for _, tool := range []string{"Xvfb", "xdotool", "import", "compare", "convert"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing: apt-get install -y xvfb xdotool imagemagick", tool)
		}
	}
	display := startXvfb(t)
	up := startUpstream(t)
	cfg := config(t, up, "")
	runDnspin(t, cfg)
	shots := os.Getenv("DNSPIN_TRAY_SHOTS")
	for _, lang := range []string{"en", "de", "fr"} {
		t.Run(lang, func(t *testing.T) {
			work := t.TempDir()
			logFile := filepath.Join(work, "tray.log")
			// explorer starts the tray inside the desktop and stays; the
			// tray is its own process, found below by its command line.
			desk := exec.Command(wineBin, "explorer", fmt.Sprintf("/desktop=dnspin-%s,%dx%d", lang, deskW, deskH),
				winPath(filepath.Join(dir, "bin", "dnspin-tray.exe")), "--lang", lang, "--config", winPath(cfg), "--log", winPath(logFile))
			desk.Env = append(os.Environ(), "DISPLAY="+display)
			var deskOut nstest.SyncBuffer
			desk.Stdout, desk.Stderr = &deskOut, &deskOut
			desk.WaitDelay = 2 * time.Second
			if err := desk.Start(); err != nil {
				t.Fatal(err)
			}
			deskDone := make(chan struct{})
			go func() { _ = desk.Wait(); close(deskDone) }()
			t.Cleanup(func() {
				killTray(t)
				_ = desk.Process.Kill()
				<-deskDone
				if t.Failed() {
					b, _ := os.ReadFile(logFile)
					t.Logf("tray log:\n%s\nexplorer output:\n%s", b, deskOut.String())
				}
			})

			// Connected over the pipe: the controller logs the service's
			// state only after a status answer came back.
			waitFile(t, logFile, `msg="tray: connected to the service" state=normal mode=auto`)

			before := filepath.Join(work, "before.png")
			after := filepath.Join(work, "after.png")
			// The icon is drawn once the taskbar has it; click until the
			// menu is open (the screen near the icon changes), bounded.
			// The menu is over 400x120 pixels; the tooltip alone, which
			// the hover may show too, under 400x20: 20000 tells them apart.
			const menuPixels = 20000
			var diff int
			for try := 0; ; try++ {
				screenshot(t, display, before)
				xdo(t, display, "mousemove", strconv.Itoa(iconX), strconv.Itoa(iconY), "click", "1")
				time.Sleep(time.Second) // let the menu draw before the picture; the check below decides
				screenshot(t, display, after)
				diff = changedPixels(t, before, after)
				if diff > menuPixels || try == 20 {
					break
				}
				xdo(t, display, "key", "Escape")
			}
			t.Logf("the click changed %d pixels", diff)
			if diff <= menuPixels {
				t.Fatalf("clicking the tray icon at %d,%d opened no menu (%d pixels changed)", iconX, iconY, diff)
			}
			if shots != "" {
				out := filepath.Join(shots, "tray-windows-"+lang+".png")
				// The bottom of the desktop: the menu opens up and left from the icon, the tooltip beside it.
				crop := exec.Command("convert", after, "-crop", "800x165+0+435", "+repage", "-strip",
					"-colors", "64", "PNG8:"+out)
				if b, err := crop.CombinedOutput(); err != nil {
					t.Fatalf("convert: %v\n%s", err, b)
				}
				t.Logf("saved %s", out)
			}
			xdo(t, display, "key", "Escape")
		})
	}
}

// startXvfb starts a private X server for the test and returns its
// display. Its own display number: the first one with no lock file.
func startXvfb(t *testing.T) string {
	t.Helper()
	n := 70
	for ; n < 99; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); os.IsNotExist(err) {
			break
		}
	}
	display := fmt.Sprintf(":%d", n)
	x := exec.Command("Xvfb", display, "-screen", "0", fmt.Sprintf("%dx%dx24", deskW, deskH), "-nolisten", "tcp")
	var out nstest.SyncBuffer
	x.Stdout, x.Stderr = &out, &out
	if err := x.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = x.Wait(); close(done) }()
	t.Cleanup(func() { _ = x.Process.Kill(); <-done })
	sock := fmt.Sprintf("/tmp/.X11-unix/X%d", n)
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return display
		}
		select {
		case <-done:
			t.Fatalf("Xvfb %s exited:\n%s", display, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Xvfb %s: no %s after %s", display, sock, waitLimit)
		}
	}
}

func waitFile(t *testing.T, path, s string) {
	t.Helper()
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(200 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(s)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never held %q:\n%s", path, s, b)
		}
	}
}

func xdo(t *testing.T, display string, args ...string) {
	t.Helper()
	c := exec.Command("xdotool", args...)
	c.Env = append(os.Environ(), "DISPLAY="+display)
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("xdotool %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

func screenshot(t *testing.T, display, out string) {
	t.Helper()
	c := exec.Command("import", "-display", display, "-window", "root", out)
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, b)
	}
}

// changedPixels counts the pixels that differ between two screenshots.
func changedPixels(t *testing.T, a, b string) int {
	t.Helper()
	// compare exits 1 when the images differ; the count is on stderr.
	out, err := exec.Command("compare", "-metric", "AE", a, b, "null:").CombinedOutput()
	if err != nil && !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("compare: %v\n%s", err, out)
	}
	f, perr := strconv.ParseFloat(strings.Fields(string(out) + " x")[0], 64)
	if perr != nil {
		t.Fatalf("compare: %q: %v", out, perr)
	}
	return int(f)
}

// killTray kills every dnspin-tray.exe this run started (a Wine process's
// command line is the Windows one) and waits until they are gone, so the
// next language's tray does not find the session mutex taken.
func killTray(t *testing.T) {
	t.Helper()
	exe := filepath.Join(env(t), "bin", "dnspin-tray.exe")
	win := winPath(exe)
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(100 * time.Millisecond) {
		found := false
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if cmd := string(b); strings.Contains(cmd, win) && !strings.Contains(cmd, "explorer") {
				found = true
				if p, err := os.FindProcess(pid); err == nil {
					_ = p.Kill()
				}
			}
		}
		if !found {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("dnspin-tray.exe still running after %s", waitLimit)
			return
		}
	}
}
