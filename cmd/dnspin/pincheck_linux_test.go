package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/nstest"
	"github.com/dnspin/dnspin/internal/pinverify/pinverifytest"
	"github.com/dnspin/dnspin/resolver/resolvertest"
)

// TestPinCheckInNamespace runs the daemon with pins on addresses that serve
// real HTTPS on port 443 inside a namespace, the platform's CA given by
// verify_ca: one address with a certificate for the name, one with a
// certificate for another name, one that accepts and never answers. The
// status, the DNS answers, `dnspin status` and `dnspin check` must all tell
// them apart, and a pin added at reload is checked without waiting for the
// hourly round.
func TestPinCheckInNamespace(t *testing.T) {
	nstest.Run(t, nstest.Options{}, func(t *testing.T, env *nstest.Env) {
		// 127.0.0.11 genuine, .12 an impostor, .13 silent.
		ca := pinverifytest.ServeScene(t, "box.tickets.test", "new.tickets.test").CA
		caPath := filepath.Join(env.Dir, "platform-ca.pem")
		if err := os.WriteFile(caPath, ca.PEM(), 0o644); err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(env.Dir, "control.sock")
		base := fmt.Sprintf(`listen = ["127.0.0.1:53"]
upstreams = ["127.0.0.2:53"]
mode = "pinned"
state_dir = %q
control = %q
[platform]
name = "Example Tickets"
domains = ["tickets.test"]
verify_ca = %q
# Generous for a loaded machine: only the silent address waits it out.
verify_timeout = "10s"
[[pin]]
name = "box.tickets.test"
a = ["127.0.0.13", "127.0.0.12", "127.0.0.11"]
`, filepath.Join(env.Dir, "state"), sock, caPath)
		cfgPath := writeActivateConfig(t, env.Dir, base)
		runDaemonUntilStopped(t, cfgPath)
		cl := control.NewClient(sock)

		// The first round starts with the daemon; the silent address ends
		// it after the verifier's own timeout. Wait for the result.
		st := pinCheckWait(t, cl, func(s control.Status) bool { return pinCheckDone(s, 3) })
		want := map[string]struct {
			state   string
			leftOut bool
			err     string
		}{
			"127.0.0.11": {"verified", false, ""},
			"127.0.0.12": {"failed", true, "not box.tickets.test"},
			"127.0.0.13": {"failed", true, "no answer within"},
		}
		for _, c := range st.PinChecks {
			w := want[c.Address]
			if c.Name != "box.tickets.test" || c.State != w.state || c.LeftOut != w.leftOut || !strings.Contains(c.Error, w.err) || c.Time == "" {
				t.Errorf("pin check %+v, want %+v", c, w)
			}
		}
		if st.Platform.Verification != "verified" {
			t.Errorf("platform.verification = %q, want verified", st.Platform.Verification)
		}
		if got := resolvertest.AskA(t, "127.0.0.1:53", "box.tickets.test"); got != "127.0.0.11" {
			t.Errorf("box.tickets.test answered %s, want only the verified 127.0.0.11", got)
		}

		code, out, _ := runCmd(t, "status", "--config", cfgPath)
		if code != 0 || !strings.Contains(out, "backup addresses verified by TLS") ||
			!strings.Contains(out, "box.tickets.test 127.0.0.12  failed at ") || !strings.Contains(out, "left out of backup answers") {
			t.Errorf("status: exit %d\n%s", code, out)
		}
		code, out, _ = runCmd(t, "check", "--config", cfgPath)
		if code != 1 || !strings.Contains(out, "ok   The pinned address 127.0.0.11 of box.tickets.test is genuine") ||
			!strings.Contains(out, "FAIL The pinned address 127.0.0.12 of box.tickets.test failed the certificate check on port 443") {
			t.Errorf("check: exit %d\n%s", code, out)
		}

		// A pin added at reload is checked at once, the others are not
		// asked again (their times stay).
		before := map[string]string{}
		for _, c := range st.PinChecks {
			before[c.Address] = c.Time
		}
		src := base + "[[pin]]\nname = \"new.tickets.test\"\na = [\"127.0.0.12\", \"127.0.0.11\"]\n"
		if err := os.WriteFile(cfgPath, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := cl.Reload(pinCheckCtx(t)); err != nil {
			t.Fatal(err)
		}
		st = pinCheckWait(t, cl, func(s control.Status) bool { return pinCheckDone(s, 5) })
		for _, c := range st.PinChecks {
			if c.Name == "box.tickets.test" && c.Time != before[c.Address] {
				t.Errorf("reload checked %s %s again: %s, was %s", c.Name, c.Address, c.Time, before[c.Address])
			}
		}
		if got := resolvertest.AskA(t, "127.0.0.1:53", "new.tickets.test"); got != "127.0.0.11" {
			t.Errorf("new.tickets.test answered %s, want only the verified 127.0.0.11", got)
		}
	})
}

func pinCheckCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// pinCheckDone: n addresses checked, none unknown.
func pinCheckDone(s control.Status, n int) bool {
	if len(s.PinChecks) != n {
		return false
	}
	for _, c := range s.PinChecks {
		if c.State == "unknown" {
			return false
		}
	}
	return true
}

// pinCheckWait polls the status until cond holds (generous deadline: the
// machine may be loaded; nothing here measures time).
func pinCheckWait(t *testing.T, cl *control.Client, cond func(control.Status) bool) control.Status {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := cl.Status(pinCheckCtx(t))
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met; last status %+v, err %v", st.PinChecks, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
