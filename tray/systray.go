//go:build !darwin || cgo

package tray

// This is the only file that imports the systray library. Its callbacks
// only forward clicks to the Controller and show the views it renders;
// everything they display is decided by Update.

import (
	"context"
	"sync"
	"time"

	"fyne.io/systray"
)

// Run shows the tray icon and menu and keeps them current until the user
// clicks Quit or ctx ends. cfg.Render is set by Run. The error is for
// builds that cannot show a tray (macOS without cgo). On Linux the icon is a
// D-Bus StatusNotifierItem on the session bus; on Windows a notification
// area icon; on macOS a menu bar item (needs cgo). It must be called from
// the main goroutine (the systray library locks it to the OS main thread).
func Run(ctx context.Context, cfg Config) error {
	b := &binding{items: map[ItemID]*systray.MenuItem{}}
	cfg.Render = b.show
	ctrl := NewController(cfg)
	onReady := func() {
		b.build(Update(Input{TrayVersion: cfg.Version}, cfg.Lang), ctrl)
		go b.settle(ctx)
		go func() {
			ctrl.Run(ctx) // returns on Quit or when ctx ends
			// Quit closes the D-Bus connection, and a SetIcon after that
			// panics inside the library: settle must not run again.
			b.mu.Lock()
			b.closed = true
			b.mu.Unlock()
			systray.Quit()
		}()
	}
	systray.Run(onReady, nil)
	return nil
}

type binding struct {
	mu     sync.Mutex
	items  map[ItemID]*systray.MenuItem
	shown  View
	closed bool // the tray is quitting: the library's connection is going away
}

// build creates the menu once, in the view's order, and forwards each
// item's clicks to the controller.
func (b *binding) build(v View, ctrl *Controller) {
	b.mu.Lock()
	defer b.mu.Unlock()
	systray.SetTitle("dnspin")
	for _, it := range v.Items {
		var m *systray.MenuItem
		if it.Parent != "" {
			m = b.items[it.Parent].AddSubMenuItem(it.Label, "")
		} else {
			if it.SeparatorBefore {
				systray.AddSeparator()
			}
			m = systray.AddMenuItem(it.Label, "")
		}
		b.items[it.ID] = m
		go func(id ItemID, clicks <-chan struct{}) {
			for range clicks {
				ctrl.Click(id)
			}
		}(it.ID, m.ClickedCh)
	}
	b.apply(v, true)
}

// settle sets the icon, tooltip and title again a few times after start.
// On Linux the library runs onReady while it is still exporting its D-Bus
// properties; a SetIcon in that window is stored but never published, and
// the panel would keep the first (grey) icon until the next change.
func (b *binding) settle(ctx context.Context) {
	for _, d := range []time.Duration{time.Second, 3 * time.Second, 10 * time.Second} {
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return
		}
		systray.SetTitle("dnspin")
		systray.SetIcon(iconBytes(b.shown.Icon))
		systray.SetTooltip(platformTooltip(b.shown.Tooltip))
		b.mu.Unlock()
	}
}

// show is the controller's Render.
func (b *binding) show(v View) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.apply(v, false)
}

// apply changes only what differs from the view shown, so the desktop gets
// no flood of property-change signals.
func (b *binding) apply(v View, all bool) {
	old := b.shown
	if all || v.Icon != old.Icon {
		systray.SetIcon(iconBytes(v.Icon))
	}
	if all || v.Tooltip != old.Tooltip {
		systray.SetTooltip(platformTooltip(v.Tooltip))
	}
	for _, it := range v.Items {
		m := b.items[it.ID]
		if m == nil {
			continue
		}
		was := old.Item(it.ID)
		if all || it.Label != was.Label {
			m.SetTitle(it.Label)
		}
		if all || it.Enabled != was.Enabled {
			if it.Enabled {
				m.Enable()
			} else {
				m.Disable()
			}
		}
		if all || it.Visible != was.Visible {
			if it.Visible {
				m.Show()
			} else {
				m.Hide()
			}
		}
	}
	b.shown = v
}
