package controltest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/control"
)

// TestServeAndBackend: a real client talks to the real server over the
// kit's socket: status, a mode switch seen in status, Modes and the event
// stream, a refused switch, the check and the report inputs.
func TestServeAndBackend(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	be := NewBackend(control.Status{Version: "9.9.9", Mode: "auto", State: "normal"})
	c := control.NewClient(Serve(t, be, control.ServerOptions{}))

	st, err := c.Status(ctx)
	if err != nil || st.Version != "9.9.9" || st.Mode != "auto" {
		t.Fatalf("status %+v, %v", st, err)
	}
	if be.Reads() == 0 {
		t.Error("Status calls not counted")
	}
	events, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	<-events // the first event is the current status
	if err := c.SetMode(ctx, "pinned"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-be.Modes():
		if m != "pinned" {
			t.Errorf("Modes got %q", m)
		}
	case <-ctx.Done():
		t.Fatal("no mode on Modes")
	}
	select {
	case st := <-events:
		if st.Mode != "pinned" {
			t.Errorf("event after SetMode: mode %q", st.Mode)
		}
	case <-ctx.Done():
		t.Fatal("no event after SetMode")
	}

	be.FailSetMode(func(string) error { return errors.New("the resolver is restarting") })
	if err := c.SetMode(ctx, "auto"); err == nil || !strings.Contains(err.Error(), "the resolver is restarting") {
		t.Errorf("refused SetMode: %v", err)
	}
	if st, _ := c.Status(ctx); st.Mode != "pinned" {
		t.Errorf("mode %q after a refused switch, want pinned", st.Mode)
	}

	be.SetCheck(control.CheckReport{OK: false, Results: []control.CheckResult{{Name: "system-uses-dnspin", Detail: "no"}}})
	if r, err := c.Check(ctx); err != nil || r.OK || len(r.Results) != 1 {
		t.Errorf("check %+v, %v", r, err)
	}
	be.SetReportInputs(control.ReportInputs{LogLines: []string{"level=INFO msg=kit-line"}})
	if rep, err := c.Report(ctx); err != nil || !strings.Contains(string(rep), "msg=kit-line") {
		t.Errorf("report lacks the log line (%v):\n%s", err, rep)
	}
}
