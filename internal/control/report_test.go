package control

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestBuildReportCapAndRedaction(t *testing.T) {
	t.Parallel()
	var logs []string
	for i := 0; i < 8000; i++ {
		logs = append(logs, fmt.Sprintf("time=2026-11-25T14:%02d:00Z level=INFO msg=\"answered\" name=shop.tickets.example source=upstream n=%06d password=pw%06d", i%60, i, i))
	}
	in := ReportInputs{
		Time:       time.Date(2026, 11, 25, 14, 5, 0, 0, time.UTC),
		ConfigPath: "/etc/dnspin/dnspin.toml",
		ConfigText: "[bundle]\nurls = [\"https://u:p4ss@pins.example/p.json?sig=zz\"]\npublic_key = \"ed25519:KEYKEYKEY\"\n" + strings.Repeat("# padding\n", 20000),
		LogLines:   logs,
		OSDNS:      map[string]any{"backend": "resolv.conf", "files": map[string]string{"/etc/resolv.conf": strings.Repeat("nameserver 192.0.2.1\n", 20000)}},
		Check:      &CheckReport{Time: "t", OK: true, Results: []CheckResult{{Name: "system-uses-dnspin", OK: true, Detail: "yes"}}},
	}
	rep := string(BuildReport(in, sampleStatus()))
	if len(rep) > ReportMaxBytes {
		t.Fatalf("report is %d bytes, cap %d", len(rep), ReportMaxBytes)
	}
	for _, gone := range []string{"p4ss", "sig=zz", "KEYKEYKEY", "password=pw"} {
		if strings.Contains(rep, gone) {
			t.Errorf("report contains %q", gone)
		}
	}
	for _, want := range []string{
		"n=007999", // the newest log line is kept
		"older lines left out to keep the report under 512 KiB",
		"bytes left out ...]", // config and OS snapshot were cut
		"[ok  ] system-uses-dnspin: yes",
		"https://[redacted]@pins.example/p.json?[redacted]",
		"== End of report ==\n",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(rep, "n=000000 ") {
		t.Error("the oldest log line survived although the log did not fit")
	}
	// Lines are in order, oldest first.
	if i, j := strings.Index(rep, "n=007998"), strings.Index(rep, "n=007999"); i < 0 || i > j {
		t.Error("log lines out of order")
	}
}

func TestReportFileName(t *testing.T) {
	got := ReportFileName(time.Date(2026, 11, 25, 9, 4, 5, 0, time.UTC))
	if got != "dnspin-report-20261125-090405.txt" {
		t.Fatal(got)
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*Status)
		want string
	}{
		{"normal", func(*Status) {},
			"dnspin 1.2.3: OK since 2026-11-25 14:02 UTC: the platform's DNS works · mode auto · this computer uses dnspin (scoped) · 1/1 DNS servers answer"},
		{"outage pinned, not active, names without backup", func(s *Status) {
			s.State, s.Mode, s.Activated = "outage", "pinned", false
			s.Upstreams = append(s.Upstreams, Upstream{Address: "192.0.2.54:53"})
			s.Unprotected = []string{"api.tickets.example"}
		}, "dnspin 1.2.3: OUTAGE since 2026-11-25 14:02 UTC: the platform's DNS is down, its names are answered from backup addresses · mode pinned (backup addresses always) · NOT ACTIVE: this computer does not use dnspin (run: dnspin activate) · 1/2 DNS servers answer · 1 platform name has no backup address"},
		{"outage, pins verified", func(s *Status) {
			s.State, s.Platform.Verification = "outage", "verified"
		}, "dnspin 1.2.3: OUTAGE since 2026-11-25 14:02 UTC: the platform's DNS is down, its names are answered from backup addresses · mode auto · this computer uses dnspin (scoped) · 1/1 DNS servers answer · backup addresses verified by TLS"},
		{"pins not verified", func(s *Status) { s.Platform.Verification = "not_verified" },
			"dnspin 1.2.3: OK since 2026-11-25 14:02 UTC: the platform's DNS works · mode auto · this computer uses dnspin (scoped) · 1/1 DNS servers answer · backup addresses NOT verified: a pinned name has no address that passed the TLS check"},
	} {
		s := sampleStatus()
		tc.edit(&s)
		if got := Summary(s); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestLogRing(t *testing.T) {
	t.Parallel()
	r := NewLogRing(3, slog.LevelInfo)
	log := slog.New(r).With("svc", "dnspin")
	log.Debug("hidden")
	for i := 0; i < 5; i++ {
		log.WithGroup("q").Info("answered", "n", i)
	}
	log.Warn(strings.Repeat("x", 10000))
	got := r.Lines()
	if len(got) != 3 {
		t.Fatalf("%d lines kept, want 3: %q", len(got), got)
	}
	if !strings.Contains(got[0], "svc=dnspin q.n=3") || !strings.Contains(got[1], "q.n=4") {
		t.Fatalf("wrong lines or order: %q", got)
	}
	if len(got[2]) > MaxLineBytes || !strings.HasSuffix(got[2], " [cut]") || !strings.Contains(got[2], "level=WARN") {
		t.Fatalf("long line not cut: %d bytes", len(got[2]))
	}
	for _, l := range got {
		if strings.Contains(l, "hidden") || strings.HasSuffix(l, "\n") {
			t.Fatalf("line %q", l)
		}
	}
	// Concurrent use is safe (run with -race).
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				log.InfoContext(context.Background(), "x")
			}
			done <- struct{}{}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	if len(r.Lines()) != 3 {
		t.Fatal("ring grew")
	}
}

func TestNotifier(t *testing.T) {
	t.Parallel()
	var n Notifier
	n.Notify() // nobody waiting: harmless
	a := n.Changed()
	if n.Changed() != a {
		t.Fatal("Changed before Notify must return the same channel")
	}
	select {
	case <-a:
		t.Fatal("closed before Notify")
	default:
	}
	n.Notify()
	<-a // closed
	b := n.Changed()
	select {
	case <-b:
		t.Fatal("the next channel is already closed")
	default:
	}
	n.Notify()
	n.Notify() // twice: no double close
	<-b
}
