package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/bundle"
	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/nstest"
	"github.com/dnspin/dnspin/internal/pinverify"
	"github.com/dnspin/dnspin/internal/pinverify/pinverifytest"
	"github.com/dnspin/dnspin/resolver"
	"github.com/dnspin/dnspin/resolver/resolvertest"
)

// TestBundleTrustAndLearnedChecksInNamespace runs the daemon inside a
// namespace with real HTTPS servers on port 443 and a stored signed bundle
// that carries the platform's CA (verify_ca) and the key of its servers
// (verify_spki); the config itself trusts neither. Pinned addresses: one
// with the platform's certificate and key, one with a certificate for the
// name from another CA (the bundle's CA does not match), one with a
// certificate from the platform's CA but another key (the SPKI pin does not
// match). Learned answers (learned.json, as after a restart): one name with
// an address that verifies, one whose server has a certificate for another
// name, one that refuses and one that accepts and never answers; and a name
// where no address verifies.
// The status, the DNS answers, `dnspin status` and `dnspin check` must tell
// them all apart.
func TestBundleTrustAndLearnedChecksInNamespace(t *testing.T) {
	nstest.Run(t, nstest.Options{}, func(t *testing.T, env *nstest.Env) {
		platformCA, otherCA := pinverifytest.NewCA(t), pinverifytest.NewCA(t)
		good := platformCA.Leaf(t, "box.tickets.test", "learn.tickets.test", "dead.tickets.test")
		leaf, err := x509.ParseCertificate(good.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		pinverifytest.ServeTLS(t, "127.0.0.11:443", good)
		pinverifytest.ServeTLS(t, "127.0.0.12:443", otherCA.Leaf(t, "box.tickets.test", "dead.tickets.test"))
		pinverifytest.ServeTLS(t, "127.0.0.13:443", platformCA.Leaf(t, "box.tickets.test"))
		pinverifytest.ServeTLS(t, "127.0.0.22:443", platformCA.Leaf(t, "other.example"))
		pinverifytest.ServeTLS(t, "127.0.0.21:443", good)
		// 127.0.0.23: nothing listens, the connection is refused.
		pinverifytest.ServeSilent(t, "127.0.0.24:443") // accepts, never answers

		state := filepath.Join(env.Dir, "state")
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		a := func(s ...string) []netip.Addr {
			var out []netip.Addr
			for _, x := range s {
				out = append(out, netip.MustParseAddr(x))
			}
			return out
		}
		signed, err := bundle.Sign(priv, bundle.Payload{
			Platform: "Example Tickets", Serial: 1, Issued: now.Add(-time.Hour), Expires: now.Add(24 * time.Hour),
			Pins:       []resolver.Pin{{Name: "box.tickets.test", A: a("127.0.0.13", "127.0.0.12", "127.0.0.11")}},
			VerifyCA:   []string{string(platformCA.PEM())},
			VerifySPKI: []string{pinverify.SPKIPin(leaf)},
		})
		if err != nil {
			t.Fatal(err)
		}
		at := now.Format(time.RFC3339)
		learned := `{"version":1,"answers":[
 {"name":"learn.tickets.test.","type":"A","at":"` + at + `","rrs":["learn.tickets.test. 60 IN A 127.0.0.22","learn.tickets.test. 60 IN A 127.0.0.23","learn.tickets.test. 60 IN A 127.0.0.24","learn.tickets.test. 60 IN A 127.0.0.21"]},
 {"name":"dead.tickets.test.","type":"A","at":"` + at + `","rrs":["dead.tickets.test. 60 IN A 127.0.0.22","dead.tickets.test. 60 IN A 127.0.0.12"]}
]}`
		for p, b := range map[string][]byte{"bundle/bundle.json": signed, "learned.json": []byte(learned)} {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(state, p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(state, p), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		sock := filepath.Join(env.Dir, "control.sock")
		cfgPath := writeActivateConfig(t, env.Dir, fmt.Sprintf(`listen = ["127.0.0.1:53"]
upstreams = ["127.0.0.2:53"]
mode = "pinned"
state_dir = %q
control = %q
[platform]
name = "Example Tickets"
domains = ["tickets.test"]
verify_timeout = "10s"
[bundle]
# Nothing answers there: the stored bundle stays in use.
urls = ["https://127.0.0.99/pins.json"]
public_key = %q
`, state, sock, bundle.FormatPublicKey(pub)))
		runDaemonUntilStopped(t, cfgPath)
		cl := control.NewClient(sock)

		st := pinCheckWait(t, cl, func(s control.Status) bool {
			return pinCheckDone(s, 3) && pinCheckDone(control.Status{PinChecks: s.LearnedChecks}, 6)
		})
		type want struct {
			state   string
			leftOut bool
			err     string
		}
		expect := func(what string, got []control.PinCheck, w map[string]want) {
			t.Helper()
			for _, c := range got {
				x, ok := w[c.Name+" "+c.Address]
				if !ok || c.State != x.state || c.LeftOut != x.leftOut || !strings.Contains(c.Error, x.err) || c.Time == "" {
					t.Errorf("%s %+v, want %+v", what, c, x)
				}
			}
		}
		expect("pin check", st.PinChecks, map[string]want{
			"box.tickets.test 127.0.0.11": {"verified", false, ""},
			"box.tickets.test 127.0.0.12": {"failed", true, "unknown authority"},
			"box.tickets.test 127.0.0.13": {"failed", true, "none of the platform's SPKI pins"},
		})
		expect("learned check", st.LearnedChecks, map[string]want{
			"learn.tickets.test 127.0.0.21": {"verified", false, ""},
			"learn.tickets.test 127.0.0.22": {"failed", true, "not learn.tickets.test"},
			"learn.tickets.test 127.0.0.23": {"failed", true, "refused"},
			"learn.tickets.test 127.0.0.24": {"failed", true, "no answer within 10s"},
			"dead.tickets.test 127.0.0.22":  {"failed", false, "not dead.tickets.test"},
			"dead.tickets.test 127.0.0.12":  {"failed", false, "unknown authority"},
		})
		if b := st.Bundle; b == nil || b.VerifyCA != 1 || b.VerifySPKI != 1 || b.Pins != 1 {
			t.Errorf("status.bundle %+v", st.Bundle)
		}
		if st.Platform.Verification != "verified" {
			t.Errorf("platform.verification = %q", st.Platform.Verification)
		}
		for name, want := range map[string]string{
			"box.tickets.test":   "127.0.0.11",
			"learn.tickets.test": "127.0.0.21",
			// None verified: every learned address is still answered.
			"dead.tickets.test": "127.0.0.22,127.0.0.12",
		} {
			if got := resolvertest.AskA(t, "127.0.0.1:53", name); got != want {
				t.Errorf("%s answered %s, want %s", name, got, want)
			}
		}

		code, out, _ := runCmd(t, "status", "--config", cfgPath)
		if code != 0 || !strings.Contains(out, "Learned checks") || !strings.Contains(out, "learn.tickets.test 127.0.0.22  failed at ") ||
			!strings.Contains(out, "1 CA certificates and 1 SPKI pins for the TLS checks") {
			t.Errorf("status: exit %d\n%s", code, out)
		}
		code, out, _ = runCmd(t, "check", "--config", cfgPath)
		if code != 1 || !strings.Contains(out, "ok   The learned address 127.0.0.21 of learn.tickets.test is genuine") ||
			!strings.Contains(out, "ok   The learned address 127.0.0.23 of learn.tickets.test failed the certificate check") ||
			!strings.Contains(out, "FAIL The learned address 127.0.0.22 of dead.tickets.test failed the certificate check") ||
			// The bundle's pins: the service's checks, reported (the config pins nothing).
			!strings.Contains(out, "ok   The bundle's pinned address 127.0.0.11 of box.tickets.test is genuine") ||
			!strings.Contains(out, "ok   The bundle's pinned address 127.0.0.13 of box.tickets.test failed the certificate check") {
			t.Errorf("check: exit %d\n%s", code, out)
		}
		rep, err := cl.Report(pinCheckCtx(t))
		if err != nil || !strings.Contains(string(rep), "learned backup addresses: 1 of 6 verified by TLS, 2 failed and still answered") {
			t.Errorf("report: %v\n%.2000s", err, rep)
		}
	})
}
