package nstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Package unpacks the Debian package name (FindDeb: name_*.deb in
// $DNSPIN_TEST_DEBS) into a cache directory under os.TempDir, once per
// package file, and returns that directory. Daemons run from there; unlike
// InstallDeb nothing is copied into the namespace. Without the package the
// test is skipped (a failure with DNSPIN_NSTEST_REQUIRE=1).
func Package(t testing.TB, name string) string {
	t.Helper()
	deb := FindDeb(t, name)
	cache := filepath.Join(os.TempDir(), "dnspin-nstest-pkgs", strings.TrimSuffix(filepath.Base(deb), ".deb"))
	if _, err := os.Stat(cache); err == nil {
		return cache
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(cache), ".unpack-")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("dpkg-deb -x %s: %v: %s", deb, err, out)
	}
	// Test binaries of several packages may unpack at once: the first
	// rename wins, the others use its result.
	if err := os.Rename(tmp, cache); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(cache); serr != nil {
			t.Fatalf("unpacking %s into %s: %v", deb, cache, err)
		}
	}
	return cache
}

// Resolved is a real systemd-resolved (from the Debian package, unpacked)
// running in the test's namespaces on a private system bus, the way a
// desktop runs it: /etc/resolv.conf is a symlink to its stub-resolv.conf,
// so glibc asks the stub on 127.0.0.53. Start it with StartResolved.
//
// There is no systemd: a shell loop restarts the daemon whenever it exits
// (like Restart=always), and a `systemctl` stand-in first in PATH makes
// `systemctl try-reload-or-restart systemd-resolved.service` stop it and
// wait for the new one (v252 has no reload; it exits on SIGHUP). Link
// settings made with resolvectl survive such a restart, as on a desktop.
type Resolved struct {
	// Root is the unpacked package (Root/usr/bin/resolvectl, ...).
	Root string
	dir  string
}

// StartResolved starts dbus-daemon and systemd-resolved in env, which must
// have been made with Options{PIDNamespace: true} (the daemons then die
// with the test), and waits until the stub answers. resolvectl and the
// systemctl stand-in are put first in PATH for everything the test runs.
func StartResolved(t testing.TB, env *Env) *Resolved {
	t.Helper()
	if !env.Opts.PIDNamespace {
		t.Fatal("nstest: StartResolved needs Options{PIDNamespace: true}, so the daemons die with the test")
	}
	r := &Resolved{Root: Package(t, "systemd-resolved"), dir: filepath.Join(env.Dir, "resolved")}
	bin := filepath.Join(r.dir, "bin")
	for _, d := range []string{bin, "/run/systemd", "/etc/systemd"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The daemon drops its privileges to this user (it refuses a
	// /run/systemd/resolve owned by anyone else, so that is left to it).
	if err := addSystemUser("systemd-resolve", "systemd Resolver"); err != nil {
		t.Fatal(err)
	}
	// As a distribution ships it, minus LLMNR and mDNS, which would only
	// add link-local noise to `resolvectl status`.
	if err := os.WriteFile("/etc/systemd/resolved.conf", []byte("[Resolve]\nLLMNR=no\nMulticastDNS=no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Ubuntu's and Fedora's layout: resolv.conf points at the stub.
	if err := os.Remove(ResolvConfPath); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := os.Symlink("../run/systemd/resolve/stub-resolv.conf", ResolvConfPath); err != nil {
		t.Fatal(err)
	}

	startSystemBus(t, r.dir)

	script := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script("run-resolved", fmt.Sprintf(superviseScript, r.dir, r.Root))
	script("systemctl", fmt.Sprintf(systemctlScript, r.dir))
	os.Setenv("PATH", bin+":"+filepath.Join(r.Root, "usr/bin")+":"+os.Getenv("PATH"))

	sup := exec.Command(filepath.Join(bin, "run-resolved"))
	sup.Env = append(os.Environ(), "SYSTEMD_LOG_TARGET=console", "SYSTEMD_LOG_LEVEL=debug")
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.WriteFile(filepath.Join(r.dir, "stop"), nil, 0o644)
		if pid, err := r.pid(); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = sup.Process.Kill()
		_ = sup.Wait()
		if t.Failed() {
			t.Logf("systemd-resolved's log (last 200 lines):\n%s", indent(r.LogTail(200)))
		}
	})
	waitFor(t, "systemd-resolved on the bus and its stub on 127.0.0.53", r.ready, nil)
	return r
}

// startSystemBus starts a private system bus (dbus-daemon on
// /run/dbus/system_bus_socket, allow-all policy) unless one runs already,
// and stops it at the end of the test.
func startSystemBus(t testing.TB, dir string) {
	t.Helper()
	if _, err := os.Stat("/run/dbus/system_bus_socket"); err == nil {
		return
	}
	if err := os.MkdirAll("/run/dbus", 0o755); err != nil {
		t.Fatal(err)
	}
	busConf := filepath.Join(dir, "system-bus.conf")
	if err := os.WriteFile(busConf, []byte(busConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	bus := exec.Command("dbus-daemon", "--nofork", "--nopidfile", "--config-file="+busConf)
	var busOut SyncBuffer
	bus.Stdout, bus.Stderr = &busOut, &busOut
	if err := bus.Start(); err != nil {
		t.Fatalf("nstest: starting dbus-daemon (is the dbus package installed?): %v", err)
	}
	t.Cleanup(func() { _ = bus.Process.Kill(); _ = bus.Wait() })
	waitFor(t, "the private system bus /run/dbus/system_bus_socket", func() error {
		_, err := os.Stat("/run/dbus/system_bus_socket")
		return err
	}, &busOut)
}

// addSystemUser adds a system user and group of that name to the overlay's
// /etc/passwd and /etc/group, with the first id from 999 down free in both.
func addSystemUser(name, gecos string) error {
	pw, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return err
	}
	gr, err := os.ReadFile("/etc/group")
	if err != nil {
		return err
	}
	if bytes.Contains(pw, []byte("\n"+name+":")) || bytes.HasPrefix(pw, []byte(name+":")) {
		return nil
	}
	used := func(b []byte, id int) bool { return bytes.Contains(b, []byte(":x:"+strconv.Itoa(id)+":")) }
	id := 999
	for ; id > 100 && (used(pw, id) || used(gr, id)); id-- {
	}
	add := func(path, line string) error {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteString(line)
		return err
	}
	if err := add("/etc/passwd", fmt.Sprintf("%s:x:%d:%d:%s:/:/usr/sbin/nologin\n", name, id, id, gecos)); err != nil {
		return err
	}
	return add("/etc/group", fmt.Sprintf("%s:x:%d:\n", name, id))
}

// busConfig is a system bus for the test alone: everyone may own and call
// anything (the daemons' own policy files are not installed).
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow send_type="method_call"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

// superviseScript restarts systemd-resolved whenever it exits, as
// Restart=always would; %[1]s is the state dir, %[2]s the unpacked package.
const superviseScript = `#!/bin/sh
# Written by internal/nstest: systemd's Restart=always for systemd-resolved.
while :; do
	"%[2]s/lib/systemd/systemd-resolved" >>"%[1]s/resolved.log" 2>&1 &
	echo $! >"%[1]s/resolved.pid.new" && mv "%[1]s/resolved.pid.new" "%[1]s/resolved.pid"
	wait $!
	[ -e "%[1]s/stop" ] && exit 0
	sleep 0.1
done
`

// systemctlScript stands in for systemctl: "restart" (or try-reload-or-restart)
// of systemd-resolved stops the daemon and waits until its successor is on
// the bus and its stub answers. Everything else fails loudly.
const systemctlScript = `#!/bin/sh
# Written by internal/nstest: there is no systemd in the test's namespace.
case "$1 $2" in
*restart\ systemd-resolved*|*reload\ systemd-resolved*) ;;
*) echo "systemctl stand-in (internal/nstest): only restarts systemd-resolved, not: $*" >&2; exit 1 ;;
esac
old=$(cat "%[1]s/resolved.pid")
kill "$old"
i=0
until [ "$(cat "%[1]s/resolved.pid")" != "$old" ] && resolvectl --no-pager status >/dev/null 2>&1 &&
	dig +time=1 +tries=1 +short @127.0.0.53 localhost A 2>/dev/null | grep -q '^127\.0\.0\.1$'; do
	i=$((i+1))
	if [ $i -gt 300 ]; then echo "systemctl stand-in: systemd-resolved did not come back" >&2; exit 1; fi
	sleep 0.05
done
`

func (r *Resolved) pid() (int, error) {
	b, err := os.ReadFile(filepath.Join(r.dir, "resolved.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// ready reports nil once the daemon is on the bus and its stub answers a
// name it makes up itself (localhost), i.e. without any upstream server.
func (r *Resolved) ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "resolvectl", "--no-pager", "status").CombinedOutput(); err != nil {
		return fmt.Errorf("resolvectl status: %v: %s", err, out)
	}
	c := &dns.Client{Timeout: time.Second}
	m := new(dns.Msg).SetQuestion("localhost.", dns.TypeA)
	in, _, err := c.Exchange(m, "127.0.0.53:53")
	if err != nil {
		return err
	}
	if len(in.Answer) == 0 {
		return fmt.Errorf("the stub gave no answer for localhost: %s", dns.RcodeToString[in.Rcode])
	}
	return nil
}

// waitFor polls cond every 50 ms until it returns nil; a bound of 60 s
// (a slow, loaded machine) catches a daemon that never comes up.
func waitFor(t testing.TB, what string, cond func() error, out *SyncBuffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			extra := ""
			if out != nil {
				extra = "\n" + out.String()
			}
			t.Fatalf("nstest: waiting for %s: %v%s", what, err, extra)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Resolvectl runs the unpacked resolvectl with args (bounded to 30 s) and
// returns its output; an error fails the test.
func (r *Resolved) Resolvectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := r.TryResolvectl(args...)
	if err != nil {
		t.Fatalf("resolvectl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

// TryResolvectl is Resolvectl returning the error instead.
func (r *Resolved) TryResolvectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "resolvectl", append([]string{"--no-pager"}, args...)...).CombinedOutput()
	return string(out), err
}

// LogTail returns the last n lines of the daemon's log (debug level).
func (r *Resolved) LogTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "resolved.log"))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LogSize is the current length of the daemon's log, to read only what
// comes after with LogSince.
func (r *Resolved) LogSize() int64 {
	fi, err := os.Stat(filepath.Join(r.dir, "resolved.log"))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// LogSince returns the daemon's log from byte offset off on.
func (r *Resolved) LogSince(off int64) string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "resolved.log"))
	if off > int64(len(b)) {
		return ""
	}
	return string(b[off:])
}

// Tree describes every entry under root (type, mode, owner, symlink
// target, a hash of the content), keyed by path: two Trees are equal when
// nothing under root was added, removed or changed.
func Tree(t testing.TB, root string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			desc += fmt.Sprintf(" %d:%d", st.Uid, st.Gid)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		tree[p] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("nstest: reading the tree %s: %v", root, err)
	}
	return tree
}

// EtcChanges is the upper layer of the namespace's /etc overlay: what the
// test changed in /etc, and nothing else. Compare Trees of it, not of /etc:
// the machine's own /etc shows through the overlay, and other programs on a
// shared machine (package installs) change it while a test runs.
func (e *Env) EtcChanges() string { return filepath.Join(e.Dir, "etc-upper") }

// TreeDiff lists what differs between two Trees, one line per path.
func TreeDiff(before, after map[string]string) []string {
	var diff []string
	for p, b := range before {
		if a, ok := after[p]; !ok {
			diff = append(diff, "removed "+p+" ("+b+")")
		} else if a != b {
			diff = append(diff, "changed "+p+": "+b+" -> "+a)
		}
	}
	for p, a := range after {
		if _, ok := before[p]; !ok {
			diff = append(diff, "added "+p+" ("+a+")")
		}
	}
	sort.Strings(diff)
	return diff
}
