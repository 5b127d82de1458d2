//go:build wine && linux

package winetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/internal/nstest"
)

const (
	wineBin       = "/usr/lib/wine/wine64"
	resolverAddr  = "127.0.0.1:53" // Windows DNS only works on port 53; the namespace's own loopback
	platformName  = "shop.tickets.test."
	pinnedAddr    = "192.0.2.10"
	upstreamAddrA = "198.18.0.1"
	// waitLimit bounds every wait for a condition (a Wine process starting,
	// a service answering); the machine is shared and slow, nothing is timed.
	waitLimit = 90 * time.Second
)

// env is the harness's work dir (test.sh): bin/, prefix/, stallpath/, MSIs.
func env(t *testing.T) string {
	t.Helper()
	d := os.Getenv("DNSPIN_WINE_DIR")
	if d == "" || os.Getenv("WINEPREFIX") == "" {
		t.Fatal("run these tests through packaging/wine/test.sh (DNSPIN_WINE_DIR and WINEPREFIX are not set)")
	}
	return d
}

// winPath is the Windows name of a Linux path (Wine maps / to Z:).
func winPath(p string) string { return "Z:" + strings.ReplaceAll(p, "/", `\`) }

// wine runs a Windows program to its end and returns its combined output.
func wine(t *testing.T, extraEnv []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, wineBin, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	// A Windows child (ipconfig.exe, a service) may inherit the output
	// pipe and outlive the program: do not wait for it to close the pipe.
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // it exited with 0; a child it started (services.exe) holds the pipe
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Logf("slow: wine64 %s took %s", strings.Join(args, " "), d.Round(time.Second))
	}
	return dropWineNoise(t, string(out)), err
}

// dropWineNoise takes out the lines Wine itself writes into a program's
// output, e.g. "wine client error:14c: sendmsg: Socket operation on
// non-socket" when a process ends while a socket of its own is being torn
// down (seen once a start-up TLS check had dialled): they are not the
// program's output and would break parsing its JSON. They are logged.
func dropWineNoise(t *testing.T, out string) string {
	t.Helper()
	if !strings.Contains(out, "wine client error:") {
		return out
	}
	var keep []string
	for _, l := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(l, "wine client error:") {
			t.Logf("wine said: %s", strings.TrimSpace(l))
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "")
}

func mustWine(t *testing.T, args ...string) string {
	t.Helper()
	out, err := wine(t, nil, args...)
	if err != nil {
		t.Fatalf("wine64 %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// upstream is a real DNS server on loopback: every A query gets
// upstreamAddrA while it is up; down makes it silent.
type upstream struct {
	addr string
	down atomic.Bool
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: pc.LocalAddr().String()}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		if u.down.Load() {
			return
		}
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.ParseIP(upstreamAddrA)}}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return u
}

// configBody is what every test config shares: the resolver on
// 127.0.0.1:53, the upstream, patient outage settings (Wine is slow to
// start a process) and one pin. Top-level keys go before it.
func configBody(up *upstream) string {
	return fmt.Sprintf(`listen = [%q]
upstreams = [%q]
[outage]
answer_budget = "2s"
client_timeout = "8s"
probe_interval = "1s"
[platform]
name = "Test Tickets"
domains = ["tickets.test"]
[[pin]]
name = "shop.tickets.test"
a = [%q]
`, resolverAddr, up.addr, pinnedAddr)
}

// config writes a dnspin.toml for the resolver on 127.0.0.1:53 and returns
// its Linux path. The state dir and pipe are per test.
func config(t *testing.T, up *upstream, extra string) string {
	t.Helper()
	dir := t.TempDir()
	name := strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-")
	src := fmt.Sprintf("state_dir = %q\ncontrol = %q\n%s\n", winPath(filepath.Join(dir, "state")), `\\.\pipe\dnspin-`+name, extra) +
		configBody(up)
	p := filepath.Join(dir, "dnspin.toml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// query asks the resolver once.
func query(name string, typ uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, typ)
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: "udp", Timeout: 10 * time.Second}
	r, _, err := c.Exchange(m, resolverAddr)
	return r, err
}

// waitAnswers waits until something answers DNS on resolverAddr.
func waitAnswers(t *testing.T, what string, alive func() error) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		r, err := query("use-application-dns.net.", dns.TypeA)
		if err == nil && r.Rcode == dns.RcodeNameError {
			return
		}
		if alive != nil {
			if err := alive(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: nothing answers on %s after %s (last: %v)", what, resolverAddr, waitLimit, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitSilent waits until nothing answers on resolverAddr any more.
func waitSilent(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if _, err := query("use-application-dns.net.", dns.TypeA); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s still answers after %s", what, resolverAddr, waitLimit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// proc is a running dnspin.exe.
type proc struct {
	cmd    *exec.Cmd
	log    *nstest.SyncBuffer
	exited chan struct{}
	err    error
}

// kill ends it (SIGKILL: the wine64 process is the Windows process) and
// waits until it is gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// waitLog waits until the log holds s.
func (p *proc) waitLog(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(waitLimit); !strings.Contains(p.log.String(), s); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("dnspin never logged %q:\n%s", s, p.log.String())
		}
	}
}

// runDnspin starts `dnspin.exe run` with cfg and waits until it answers;
// cleanup kills it.
func runDnspin(t *testing.T, cfg string) *proc {
	t.Helper()
	dir := env(t)
	p := &proc{cmd: exec.Command(wineBin, filepath.Join(dir, "bin", "dnspin.exe"), "run", "--config", winPath(cfg)),
		log: &nstest.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.WaitDelay = 2 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		waitSilent(t, "dnspin run after kill")
		if t.Failed() {
			t.Logf("dnspin run log:\n%s", p.log.String())
		}
	})
	waitAnswers(t, "dnspin run", func() error {
		select {
		case <-p.exited:
			return fmt.Errorf("dnspin run exited: %v\n%s", p.err, p.log.String())
		default:
			return nil
		}
	})
	return p
}

func dnspin(t *testing.T, cfg string, args ...string) string {
	t.Helper()
	a := append([]string{filepath.Join(env(t), "bin", "dnspin.exe")}, args...)
	if cfg != "" {
		a = append(a, "--config", winPath(cfg))
	}
	return mustWine(t, a...)
}

func answerA(t *testing.T, r *dns.Msg) (addr, ede string) {
	t.Helper()
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			addr = a.A.String()
		}
	}
	if o := r.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if x, ok := e.(*dns.EDNS0_EDE); ok {
				ede = x.ExtraText
			}
		}
	}
	return addr, ede
}

// TestPipeFirstInstanceUnderWine is the minimal reproduction of why
// `dnspin status` timed out under Wine before control.Listen took winio's
// first pipe instance: with winio.ListenPipe alone, the first client
// connects to an instance nobody accepts on. If this starts to pass all
// dials, Wine changed and the plug in listen_windows.go is a no-op there too.
func TestPipeFirstInstanceUnderWine(t *testing.T) {
	out, err := wine(t, nil, filepath.Join(env(t), "bin", "pipecheck.exe"), "-n", "3")
	t.Logf("pipecheck:\n%s", out)
	if err == nil || !strings.Contains(out, "dial 1: connected, no echo") ||
		!strings.Contains(out, `dial 2: echoed "hello 2\n"`) || !strings.Contains(out, `dial 3: echoed "hello 3\n"`) {
		t.Fatalf("pipecheck under Wine: want dial 1 stuck on the first instance and dials 2, 3 echoed; got err %v", err)
	}
}

// TestRunAndControlPipe: dnspin.exe run answers on loopback (live, then the
// pin), and status, mode and report work over the named pipe, on the first
// try.
func TestRunAndControlPipe(t *testing.T) {
	up := startUpstream(t)
	cfg := config(t, up, "")
	runDnspin(t, cfg)

	r, err := query(platformName, dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := answerA(t, r); a != upstreamAddrA {
		t.Fatalf("live answer: got %q, want %s from the upstream\n%v", a, upstreamAddrA, r)
	}

	var st struct {
		Mode     string `json:"mode"`
		Listen   []string
		Platform struct{ Name string }
	}
	out := dnspin(t, cfg, "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json over the pipe: %v\n%s", err, out)
	}
	if st.Mode != "auto" || st.Platform.Name != "Test Tickets" || len(st.Listen) != 1 || st.Listen[0] != resolverAddr {
		t.Fatalf("status over the pipe: %+v\n%s", st, out)
	}

	dnspin(t, cfg, "mode", "pinned")
	out = dnspin(t, cfg, "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Mode != "pinned" {
		t.Fatalf("status after mode pinned: %v %+v\n%s", err, st, out)
	}
	r, err = query(platformName, dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if a, ede := answerA(t, r); a != pinnedAddr || ede != "dnspin: pinned" {
		t.Fatalf("mode pinned: got %q (EDE %q), want %s (dnspin: pinned)", a, ede, pinnedAddr)
	}

	// An outage in auto mode: the upstream goes silent, the pin answers
	// once the live answer's 1 s TTL has run out (a fresh cached answer
	// rightly comes first; on a fast machine the steps above take less).
	dnspin(t, cfg, "mode", "auto")
	up.down.Store(true)
	var a, ede string
	for deadline := time.Now().Add(30 * time.Second); ; {
		r, err = query(platformName, dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		if a, ede = answerA(t, r); ede != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // the cached live answer is still fresh
	}
	if a != pinnedAddr || ede != "dnspin: pinned" {
		t.Fatalf("upstream silent: got %q (EDE %q), want %s (dnspin: pinned)", a, ede, pinnedAddr)
	}

	rep := filepath.Join(t.TempDir(), "report.txt")
	dnspin(t, cfg, "report", "-o", winPath(rep))
	b, err := os.ReadFile(rep)
	if err != nil {
		t.Fatalf("report -o: %v", err)
	}
	for _, want := range []string{"Test Tickets", "shop.tickets.test", up.addr} {
		if !bytes.Contains(b, []byte(want)) {
			t.Fatalf("report lacks %q:\n%s", want, b)
		}
	}
}

// Registry keys activation may touch, exported for before/after comparison
// (reg export writes UTF-16 .reg files; a missing key is recorded as such).
var activationKeys = []string{
	`HKLM\SYSTEM\CurrentControlSet\Services\Dnscache`,
	`HKLM\SYSTEM\CurrentControlSet\Services\Tcpip`,
	`HKLM\SYSTEM\CurrentControlSet\Services\Tcpip6`,
	`HKLM\SOFTWARE\Policies\Microsoft\Windows NT\DNSClient`,
}

// snapshot exports keys with Wine's reg.exe, as support would.
func snapshot(t *testing.T, keys []string) string {
	t.Helper()
	var b strings.Builder
	f := filepath.Join(t.TempDir(), "export.reg")
	for _, k := range keys {
		_ = os.Remove(f)
		out, err := wine(t, nil, "reg", "export", k, winPath(f), "/y")
		if err != nil {
			if !strings.Contains(out, "Unable to find the specified registry key") {
				t.Fatalf("reg export %s: %v\n%s", k, err, out)
			}
			fmt.Fprintf(&b, "[%s absent]\n", k)
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "[%s: %d bytes]\n%s\n", k, len(data), utf16Text(data))
	}
	return b.String()
}

// utf16Text makes reg export's UTF-16LE (with BOM) readable in failures;
// the comparison is of these decoded bytes, which map 1:1 to the file's.
func utf16Text(b []byte) string {
	if len(b) < 2 || b[0] != 0xff || b[1] != 0xfe {
		return string(b)
	}
	u := make([]uint16, 0, len(b)/2)
	for i := 2; i+1 < len(b); i += 2 {
		u = append(u, uint16(b[i])|uint16(b[i+1])<<8)
	}
	return string(utf16.Decode(u))
}

// seedInterfaces gives Wine's registry what Windows has and Wine lacks:
// interfaces with static and DHCP DNS servers, a value in the Run key.
// Once per prefix.
var seeded atomic.Bool

func seedInterfaces(t *testing.T) {
	t.Helper()
	if seeded.Load() {
		return
	}
	defer func() { seeded.Store(!t.Failed()) }()
	const v4 = `HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters\Interfaces\`
	const v6 = `HKLM\SYSTEM\CurrentControlSet\Services\Tcpip6\Parameters\Interfaces\`
	for _, a := range [][]string{
		{v4 + "{11111111-1111-1111-1111-111111111111}", "NameServer", "192.0.2.53,192.0.2.54"},
		{v4 + "{22222222-2222-2222-2222-222222222222}", "DhcpNameServer", "192.0.2.67"},
		{v4 + "{33333333-3333-3333-3333-333333333333}", "NameServer", ""},
		{v4 + "{33333333-3333-3333-3333-333333333333}", "DhcpNameServer", "192.0.2.68 192.0.2.69"},
		{v6 + "{11111111-1111-1111-1111-111111111111}", "NameServer", "2001:db8::53"},
		// Windows' Run key is never empty; Wine's is. Windows Installer
		// deletes a key its removal leaves empty, which would make the
		// MSI's removal look like a change.
		{`HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run`, "SecurityHealth", `%windir%\system32\SecurityHealthSystray.exe`},
	} {
		mustWine(t, "reg", "add", a[0], "/v", a[1], "/t", "REG_SZ", "/d", a[2], "/f")
	}
}

func regValue(t *testing.T, key, name string) string {
	t.Helper()
	out, err := wine(t, nil, "reg", "query", key, "/v", name)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == name && strings.HasPrefix(f[1], "REG_") {
			return strings.Join(f[2:], " ")
		}
	}
	return ""
}

const nrptKey = `HKLM\SYSTEM\CurrentControlSet\Services\Dnscache\Parameters\DnsPolicyConfig`

// nrptRules lists the NRPT rules' names and servers, "" when there is none.
func nrptRules(t *testing.T) string {
	t.Helper()
	out, err := wine(t, nil, "reg", "query", nrptKey, "/s")
	if err != nil {
		return ""
	}
	var rules []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && (f[0] == "Name" || f[0] == "GenericDNSServers") {
			rules = append(rules, f[0]+"="+strings.Join(f[2:], " "))
		}
	}
	return strings.Join(rules, "; ")
}

// TestActivateDeactivateRegistry: activate writes NRPT rules (scoped) or the
// interfaces' name servers (full) into the registry, and deactivate puts
// back exactly what was there, compared by reg export.
func TestActivateDeactivateRegistry(t *testing.T) {
	env(t)
	seedInterfaces(t)
	const if1 = `HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters\Interfaces\{11111111-1111-1111-1111-111111111111}`
	const if3 = `HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters\Interfaces\{33333333-3333-3333-3333-333333333333}`
	for _, tc := range []struct {
		mode   string
		active func(t *testing.T)
	}{
		{"scoped", func(t *testing.T) {
			// One rule for the domain and every name below it, sending
			// them to dnspin, then to the machine's original servers.
			got := nrptRules(t)
			for _, want := range []string{`Name=.tickets.test\0tickets.test`, "GenericDNSServers=127.0.0.1; 192.0.2.53; 192.0.2.54; 192.0.2.67"} {
				if !strings.Contains(got, want) {
					t.Fatalf("NRPT after activate: %q lacks %q", got, want)
				}
			}
		}},
		{"full", func(t *testing.T) {
			if got := regValue(t, if1, "NameServer"); got != "127.0.0.1,192.0.2.53,192.0.2.54" {
				t.Fatalf("static interface after activate: NameServer %q", got)
			}
			if got := regValue(t, if3, "NameServer"); got != "127.0.0.1,192.0.2.68,192.0.2.69" {
				t.Fatalf("DHCP interface after activate: NameServer %q", got)
			}
		}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			up := startUpstream(t)
			cfg := config(t, up, fmt.Sprintf("activation = %q", tc.mode))
			runDnspin(t, cfg)
			before := snapshot(t, activationKeys)
			out := dnspin(t, cfg, "activate")
			if !strings.Contains(out, "Activated") {
				t.Fatalf("activate: %s", out)
			}
			tc.active(t)
			if snapshot(t, activationKeys) == before {
				t.Fatal("activate changed nothing in the registry")
			}
			dnspin(t, cfg, "deactivate")
			if after := snapshot(t, activationKeys); after != before {
				t.Fatalf("deactivate did not restore the registry byte for byte:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// TestActivateKilled: `dnspin activate` killed after its registry writes
// (it waits in a stand-in ipconfig.exe) leaves its journal; deactivate then
// restores exactly, and so does a restarted resolver (which re-applies the
// activation it finds, so it is deactivated afterwards).
func TestActivateKilled(t *testing.T) {
	dir := env(t)
	seedInterfaces(t)
	for _, then := range []string{"deactivate", "restart"} {
		t.Run(then, func(t *testing.T) {
			up := startUpstream(t)
			cfg := config(t, up, `activation = "full"`)
			run := runDnspin(t, cfg)
			before := snapshot(t, activationKeys)

			mark := filepath.Join(t.TempDir(), "stalled")
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			act := exec.CommandContext(ctx, wineBin, filepath.Join(dir, "bin", "dnspin.exe"), "activate", "--config", winPath(cfg))
			act.Env = append(os.Environ(), "WINEPATH="+winPath(filepath.Join(dir, "stallpath")), "DNSPIN_WINE_STALL_MARK="+winPath(mark))
			// A file, not a pipe: the stalled ipconfig.exe inherits it and
			// outlives activate, and Wait would wait for it to close.
			log, err := os.Create(filepath.Join(t.TempDir(), "activate.log"))
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			act.Stdout, act.Stderr = log, log
			act.WaitDelay = 2 * time.Second
			if err := act.Start(); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(waitLimit); ; time.Sleep(100 * time.Millisecond) {
				if _, err := os.Stat(mark); err == nil {
					break
				}
				if time.Now().After(deadline) {
					b, _ := os.ReadFile(log.Name())
					t.Fatalf("activate never reached ipconfig /flushdns:\n%s", b)
				}
			}
			killed := time.Now()
			act.Process.Kill()
			act.Wait()
			t.Logf("activate killed; gone after %s", time.Since(killed).Round(time.Millisecond))
			if snapshot(t, activationKeys) == before {
				t.Fatal("activate was killed before it changed the registry")
			}
			if then == "restart" {
				run.kill()
				waitSilent(t, "dnspin run after kill")
				// The restarted resolver restores from the journal, then
				// applies the activation again once it answers.
				again := runDnspin(t, cfg)
				again.waitLog(t, "the system points at dnspin again after a restart")
			}
			dnspin(t, cfg, "deactivate")
			if after := snapshot(t, activationKeys); after != before {
				t.Fatalf("after kill and %s: registry not restored byte for byte:\nbefore:\n%s\nafter:\n%s", then, before, after)
			}
		})
	}
}

const (
	progDir  = `C:\Program Files\dnspin`
	dataDir  = `C:\ProgramData\dnspin`
	svcKey   = `HKLM\SYSTEM\CurrentControlSet\Services\dnspin`
	runKey   = `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run`
	progDirL = "drive_c/Program Files/dnspin"
	dataDirL = "drive_c/ProgramData/dnspin"
)

// installKeys are what an install may touch, besides activationKeys.
var installKeys = append([]string{svcKey, runKey}, activationKeys...)

// prefixPath is the Linux path of a folder in the prefix's C: drive.
func prefixPath(rel string) string { return filepath.Join(os.Getenv("WINEPREFIX"), rel) }

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// serviceState is the STATE line of `sc query dnspin`, "" if there is no
// such service.
func serviceState(t *testing.T) string {
	t.Helper()
	out, err := wine(t, nil, "sc", "query", "dnspin")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 4 && f[0] == "STATE" {
			return f[3]
		}
	}
	return "?"
}

// serviceConfig is a config for the installed service: default state dir
// and pipe, the resolver on 127.0.0.1:53.
func serviceConfig(t *testing.T, up *upstream) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "site.toml")
	if err := os.WriteFile(p, []byte(configBody(up)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkServing: the installed service answers, live and over its pipe.
func checkServing(t *testing.T, wantVersion string) {
	t.Helper()
	waitAnswers(t, "the installed service", nil)
	r, err := query(platformName, dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := answerA(t, r); a != upstreamAddrA {
		t.Fatalf("installed service: got %q, want %s from the upstream", a, upstreamAddrA)
	}
	exe := prefixPath(progDirL + "/dnspin.exe")
	out := mustWine(t, exe, "status", "--json")
	var st struct {
		Mode    string `json:"mode"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Mode != "auto" {
		t.Fatalf("status of the installed service over \\\\.\\pipe\\dnspin: %v\n%s", err, out)
	}
	if v := mustWine(t, exe, "version"); !strings.Contains(v, "dnspin "+wantVersion+" ") {
		t.Fatalf("installed dnspin.exe: %q, want version %s", v, wantVersion)
	}
	if got := nrptRules(t); !strings.Contains(got, "GenericDNSServers=127.0.0.1") {
		t.Fatalf("installed and not activated: NRPT %q", got)
	}
}

// checkGone: nothing of dnspin is left, and the registry is as before.
func checkGone(t *testing.T, before string) {
	t.Helper()
	if s := serviceState(t); s != "" {
		t.Errorf("service dnspin still registered (%s)", s)
	}
	for _, d := range []string{progDirL, dataDirL} {
		if exists(prefixPath(d)) {
			t.Errorf("%s still exists", d)
		}
	}
	if after := snapshot(t, installKeys); after != before {
		t.Errorf("registry not as before:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestInstallSilent: `dnspin install --silent` (the zip, without the MSI)
// registers the service with Wine's service manager, which starts it; it
// answers and is activated; `uninstall` removes everything.
func TestInstallSilent(t *testing.T) {
	dir := env(t)
	seedInterfaces(t)
	up := startUpstream(t)
	cfg := serviceConfig(t, up)
	before := snapshot(t, installKeys)
	out, err := wine(t, nil, filepath.Join(dir, "bin", "dnspin.exe"), "install", "--silent", "--config", winPath(cfg))
	if err != nil || !strings.Contains(out, `"ok":true`) {
		t.Fatalf("install --silent: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if serviceState(t) != "" { // a failure above: leave the prefix clean for the next test
			wine(t, nil, filepath.Join(dir, "bin", "dnspin.exe"), "uninstall", "--silent")
		}
	})
	if s := serviceState(t); s != "RUNNING" {
		t.Fatalf("after install: service state %q\n%s", s, out)
	}
	checkServing(t, "1.0.0")
	if v := regValue(t, runKey, "dnspin-tray"); !strings.Contains(v, `dnspin-tray.exe`) {
		t.Errorf("tray autostart: Run value %q", v)
	}
	// From the unpacked folder, as docs/support.md says: the installed
	// dnspin.exe cannot delete itself while it runs (Windows and Wine lock
	// a running executable; see docs/wine.md).
	out, err = wine(t, nil, filepath.Join(dir, "bin", "dnspin.exe"), "uninstall", "--silent")
	if err != nil || !strings.Contains(out, `"ok":true`) {
		t.Fatalf("uninstall --silent: %v\n%s", err, out)
	}
	waitSilent(t, "after uninstall")
	checkGone(t, before)
}

// msiexec runs Wine's msiexec with a verbose log; on failure the log's end
// is shown (it is UTF-16).
func msiexec(t *testing.T, args ...string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "msi.log")
	out, err := wine(t, nil, append([]string{"msiexec"}, append(args, "/qn", "/l*v", winPath(log))...)...)
	if err != nil {
		b, _ := os.ReadFile(log)
		text := utf16Text(b)
		// The failing action ("Return value 3") and what led to it.
		if i := strings.Index(text, "Return value 3"); i >= 0 {
			text = text[max(0, i-4000):min(len(text), i+200)]
		} else if len(text) > 6000 {
			text = text[len(text)-6000:]
		}
		t.Fatalf("msiexec %s: %v\n%s\nlog:\n%s", strings.Join(args, " "), err, out, text)
	}
}

// TestMSI: the MSI as support runs it, with every public property; then a
// major upgrade to 1.1.0 runs and serves with the same config; then
// msiexec /x leaves nothing behind.
func TestMSI(t *testing.T) {
	dir := env(t)
	seedInterfaces(t)
	up := startUpstream(t)
	cfg := serviceConfig(t, up)
	before := snapshot(t, installKeys)
	const key = "ed25519:0nG0S4m9dBbWj3hJ0i8ZJ4mZk8e0m5w0x1Yk2p3q4r8="
	msiexec(t, "/i", winPath(filepath.Join(dir, "dnspin-1.0.0.msi")),
		"CONFIG="+winPath(cfg), "BUNDLE_URL=https://127.0.0.1:9/pins.json", "BUNDLE_KEY="+key,
		"PLATFORM_DOMAINS=tickets.test,cdn.tickets-cdn.test")
	t.Cleanup(func() {
		if serviceState(t) != "" {
			wine(t, nil, "msiexec", "/x", winPath(filepath.Join(dir, "dnspin-1.1.0.msi")), "/qn")
			wine(t, nil, "msiexec", "/x", winPath(filepath.Join(dir, "dnspin-1.0.0.msi")), "/qn")
		}
	})
	if s := serviceState(t); s != "RUNNING" {
		t.Fatalf("after msiexec /i: service state %q", s)
	}
	checkServing(t, "1.0.0")
	installed, err := os.ReadFile(prefixPath(dataDirL + "/dnspin.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`urls = ["https://127.0.0.1:9/pins.json"]`, `public_key = "` + key + `"`, `domains = ["tickets.test", "cdn.tickets-cdn.test"]`, `upstreams = ["` + up.addr + `"]`} {
		if !strings.Contains(string(installed), want) {
			t.Fatalf("installed config lacks %s:\n%s", want, installed)
		}
	}
	if v := regValue(t, runKey, "dnspin-tray"); !strings.Contains(v, `dnspin-tray.exe`) {
		t.Errorf("tray autostart: Run value %q", v)
	}

	// The major upgrade. Wine's RemoveExistingProducts removes the old
	// version without UPGRADINGPRODUCTCODE, so its removal runs the full
	// `dnspin uninstall` (config and learned answers gone) where Windows
	// runs only `deactivate` (docs/wine.md). So the upgrade is given CONFIG
	// again, and "learned answers survive" is not checked here.
	msiexec(t, "/i", winPath(filepath.Join(dir, "dnspin-1.1.0.msi")), "CONFIG="+winPath(cfg),
		"BUNDLE_URL=https://127.0.0.1:9/pins.json", "BUNDLE_KEY="+key, "PLATFORM_DOMAINS=tickets.test,cdn.tickets-cdn.test")
	if s := serviceState(t); s != "RUNNING" {
		t.Fatalf("after the upgrade: service state %q", s)
	}
	checkServing(t, "1.1.0")
	again, err := os.ReadFile(prefixPath(dataDirL + "/dnspin.toml"))
	if err != nil || !bytes.Equal(again, installed) {
		t.Fatalf("the upgrade changed the config (%v):\nbefore:\n%s\nafter:\n%s", err, installed, again)
	}

	msiexec(t, "/x", winPath(filepath.Join(dir, "dnspin-1.1.0.msi")))
	waitSilent(t, "after msiexec /x")
	checkGone(t, before)
	if v := regValue(t, runKey, "dnspin-tray"); v != "" {
		t.Errorf("Run value left: %q", v)
	}
}
