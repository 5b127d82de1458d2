// Package nstest runs a Go test inside fresh Linux network and mount
// namespaces, so code that rewrites /etc/resolv.conf, binds port 53 or
// kills resolvers can be tested for real without touching the machine.
//
// # How it works
//
// A test calls Run with a body. In the normal test process Run re-executes the
// test binary for just that test (-test.run ^Name$) in a child created with
// CLONE_NEWNET|CLONE_NEWNS, waits for it and reports its result (pass, fail
// with the child's output, or skip). In the child, Run prepares the
// namespaces and calls the body inside them:
//
//   - all mounts are made private, so nothing propagates back to the host;
//   - a tmpfs holds scratch space (Env.Dir) and the overlay's upper layer;
//   - /etc is an overlay over the real /etc: files under it can be written,
//     renamed, replaced and removed, the real ones stay untouched;
//   - /etc/nsswitch.conf says "hosts: files dns" and /etc/hosts holds only
//     localhost, so every other name goes through /etc/resolv.conf;
//   - /etc/resolv.conf holds Options.ResolvConf (default "nameserver
//     127.0.0.2"), with mode Options.ResolvConfMode (default 0644);
//   - lo is up (all of 127.0.0.0/8 is local, so servers can listen on
//     127.0.0.1:53, 127.0.0.2:53, ...);
//   - one veth pair (dnsv0 198.18.255.1/30 and dnsv1) is up, because
//     getaddrinfo with AI_ADDRCONFIG, used by getent ahosts and most programs,
//     returns nothing when a host has only loopback addresses;
//   - PeerAddr (198.18.255.2) is on dnsv1, for servers that must not be on
//     loopback;
//   - /run/nscd is an empty tmpfs, so a host nscd is never asked;
//   - with Options.BindMountResolvConf, /etc/resolv.conf is a bind mount of a
//     file on the tmpfs, like in a container: rename over it fails with EBUSY.
//
// Run skips the test with a clear message when it cannot run (not root,
// not Linux, unshare or mount refused); set DNSPIN_NSTEST_REQUIRE=1 to make
// that a failure instead (CI should: it runs as root, so a skip there means
// the namespace tests silently stopped running).
//
// # Helper processes
//
// Tests that must kill a server with SIGKILL need it in another process.
// Register helpers once in TestMain with Main, then start them inside the
// namespace with Spawn:
//
//	func TestMain(m *testing.M) {
//		nstest.Main(m, map[string]func(args []string) int{
//			"dns-server": serveDNS, // prints nstest.Ready when listening
//		})
//	}
//
//	func TestKill(t *testing.T) {
//		nstest.Run(t, nstest.Options{}, func(t *testing.T, env *nstest.Env) {
//			p := env.Spawn(t, "dns-server", "127.0.0.1:53")
//			p.Kill() // SIGKILL
//		})
//	}
//
// # Other programs' packages
//
// InstallDeb unpacks a Debian package (found by FindDeb in
// $DNSPIN_TEST_DEBS, where CI puts `apt-get download` results) into the
// namespace: /usr gets an overlay like /etc, maintainer scripts do not run.
// That is how the resolvconf backend is tested against the real Debian
// resolvconf and openresolv without installing them on the machine.
//
// # Resolving through libc
//
// Getent runs `getent ahostsv4 NAME` (or ahostsv6/ahosts), i.e. the real
// glibc path through nsswitch and resolv.conf, and returns the addresses.
//
// # API at a glance
//
//	Run(t, Options{...}, func(t *testing.T, env *Env) {...}) // body runs in the namespaces
//	Options{ResolvConf, ResolvConfMode, BindMountResolvConf, Symlink}
//	env.Dir                                 // scratch on the namespace's tmpfs (/run/nstest)
//	env.Spawn(t, "helper", args...) *Process // helper registered with Main; p.Kill() is SIGKILL
//	Main(m, helpers)                        // in TestMain, when Spawn is used
//	InNamespace() bool                      // true in the namespaced child
//	Getent(ctx, "ahostsv4", name) / MustGetent(t, "ahostsv4", name)
//	ReadResolvConf(t) / WriteResolvConfBehindBack(t, content, perm)
//	FindDeb(t, "resolvconf") / env.InstallDeb(t, deb) // a package's files, unpacked into the namespace
//	VethAddr, PeerAddr, ResolvConfPath, Ready
//	Tree(t, dir) / TreeDiff(before, after) // a directory tree, compared
//
// # Real DNS daemons (Linux)
//
// With Options{PIDNamespace: true} the body can run the desktop's own DNS
// daemons from Debian's packages (found by FindDeb in $DNSPIN_TEST_DEBS),
// unpacked once into a cache directory and run from there, on a private
// system bus:
//
//	StartResolved(t, env)             // systemd-resolved; resolv.conf -> its stub
//	StartNetworkManager(t, env, dns)  // NetworkManager managing dnsv0
//
// Servers started in the body may listen on any 127.0.0.0/8 address and on
// port 53: the namespace's loopback is private. Only the namespace's own
// addresses are reachable; there is no route to the outside.
package nstest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables that pass the role of a re-executed test binary.
const (
	envChild   = "DNSPIN_NSTEST_CHILD"  // set in the namespaced child: the test's name
	envHelper  = "DNSPIN_NSTEST_HELPER" // set in a helper process: the helper's name
	envRequire = "DNSPIN_NSTEST_REQUIRE"
)

// Ready is the line a helper prints on stdout once it is ready; Spawn waits
// for it.
const Ready = "NSTEST-READY"

// VethAddr is the non-loopback address the namespace gets on dnsv0.
var VethAddr = netip.MustParseAddr("198.18.255.1")

// PeerAddr is the address on dnsv1, the other end of the veth pair: a
// non-loopback address test servers can listen on when the code under test
// drops loopback servers (systemd-resolved's fallback list does).
var PeerAddr = netip.MustParseAddr("198.18.255.2")

// Options shape the namespace.
type Options struct {
	// ResolvConf is the initial content of /etc/resolv.conf. Empty means
	// "nameserver 127.0.0.2\n".
	ResolvConf string
	// ResolvConfMode is its permission bits; 0 means 0644.
	ResolvConfMode fs.FileMode
	// BindMountResolvConf makes /etc/resolv.conf a bind mount (rename over
	// it fails with EBUSY, as in containers).
	BindMountResolvConf bool
	// Symlink, if set, makes /etc/resolv.conf a symlink to this path (for
	// example "/run/systemd/resolve/stub-resolv.conf"); the target is
	// created with ResolvConf as its content. /run is a tmpfs in the
	// namespace.
	Symlink string
	// PIDNamespace adds CLONE_NEWPID: the test body runs as PID 1 of its
	// own PID namespace with a fresh /proc, so every daemon it starts
	// (dbus-daemon, systemd-resolved) dies with it, also when the test
	// crashes.
	PIDNamespace bool
}

// Env describes the namespace the test body runs in.
type Env struct {
	// Dir is scratch space on the namespace's tmpfs (not t.TempDir: that
	// lives on the host file system and is shared with the parent).
	Dir string
	// Opts are the options the namespace was made with.
	Opts Options

	usrOverlay bool // InstallDeb put an overlay on /usr
}

// Main must be called from TestMain of packages that use Spawn. In a helper
// process it runs the helper named by the environment and exits with its
// code; otherwise it runs the tests.
func Main(m *testing.M, helpers map[string]func(args []string) int) {
	if name := os.Getenv(envHelper); name != "" {
		h, ok := helpers[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "nstest: no helper %q registered in TestMain\n", name)
			os.Exit(3)
		}
		var args []string
		for i, a := range os.Args {
			if a == "--" {
				args = os.Args[i+1:]
				break
			}
		}
		os.Exit(h(args))
	}
	os.Exit(m.Run())
}

// InNamespace reports whether this process is a namespaced child made by
// Run.
func InNamespace() bool { return os.Getenv(envChild) != "" }

// Run runs body inside fresh namespaces (see the package doc). In the host
// process it re-executes the test binary for just this test in a namespaced
// child, waits for it and reports its outcome (pass, failure with the child's
// output, or skip); body does not run in the host process. In the child it
// sets up the namespaces and calls body there.
//
// Call it from a top-level test or subtest, once per test; everything that
// must happen inside the namespaces belongs in body. Do not call t.Parallel:
// the child runs the test alone anyway.
func Run(t *testing.T, o Options, body func(t *testing.T, env *Env)) {
	t.Helper()
	if child := os.Getenv(envChild); child != "" {
		if child != t.Name() {
			t.Fatalf("nstest: child for %q entered from %q", child, t.Name())
		}
		env, err := setup(o)
		if errors.Is(err, fs.ErrPermission) {
			skipOrFail(t, "setting up the namespace: %v", err)
		}
		if err != nil {
			t.Fatalf("nstest: setting up the namespace: %v", err)
		}
		body(t, env)
		return
	}
	runChild(t, o)
}

func skipOrFail(t testing.TB, format string, a ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, a...)
	if os.Getenv(envRequire) != "" {
		t.Fatalf("nstest: %s (and %s is set)", msg, envRequire)
	}
	t.Skipf("nstest: %s; this test needs root and Linux network+mount namespaces", msg)
}

func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func runChild(t testing.TB, o Options) {
	t.Helper()
	if runtime.GOOS != "linux" {
		skipOrFail(t, "not Linux")
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "not running as root")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("nstest: finding the test binary: %v", err)
	}
	args := []string{"-test.run", runPattern(t.Name()), "-test.v", "-test.count=1"}
	if f := flagValue("test.timeout"); f != "" {
		args = append(args, "-test.timeout", f)
	}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), envChild+"="+t.Name(), raceEnv())
	cmd.SysProcAttr = cloneAttr(o)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err = cmd.Run()
	text := out.String()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		skipOrFail(t, "cannot start the test in new namespaces (%v)", err)
	}
	if testing.Verbose() || err != nil {
		t.Logf("namespaced child output:\n%s", indent(text))
	}
	name := regexp.QuoteMeta(t.Name())
	switch {
	case regexp.MustCompile(`--- SKIP: ` + name + ` `).MatchString(text):
		t.Skipf("skipped inside the namespace (see output above)")
	case err != nil:
		t.Fatalf("namespaced test failed: %v", err)
	case !regexp.MustCompile(`--- PASS: ` + name + ` `).MatchString(text):
		t.Fatalf("namespaced child did not run %s (pattern %s)", t.Name(), runPattern(t.Name()))
	}
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// flagValue returns the value of a go test flag given to this process.
func flagValue(name string) string {
	for i, a := range os.Args {
		for _, p := range []string{"-" + name + "=", "--" + name + "="} {
			if strings.HasPrefix(a, p) {
				return a[len(p):]
			}
		}
		if (a == "-"+name || a == "--"+name) && i+1 < len(os.Args) {
			return os.Args[i+1]
		}
	}
	return ""
}

// raceEnv stops race-enabled children from sleeping a second at exit (the
// race detector's default), which would add up over many namespaced tests.
func raceEnv() string {
	if g := os.Getenv("GORACE"); g != "" {
		return "GORACE=" + g + " atexit_sleep_ms=0"
	}
	return "GORACE=atexit_sleep_ms=0"
}

// Process is a helper started by Spawn.
type Process struct {
	Cmd    *exec.Cmd
	output *SyncBuffer
}

// Spawn starts the helper registered in Main under name, in this namespace,
// and waits (up to 10 s) until it prints Ready. It is killed at the end of
// the test if still running.
func (e *Env) Spawn(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("nstest: finding the test binary: %v", err)
	}
	cmd := exec.Command(exe, append([]string{"-test.run", "^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), envHelper+"="+name, raceEnv())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd, output: &SyncBuffer{}}
	cmd.Stderr = p.output
	if err := cmd.Start(); err != nil {
		t.Fatalf("nstest: starting helper %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = p.Kill()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !sent && strings.TrimSpace(line) == Ready {
				ready <- true
				sent = true
				continue
			}
			p.output.Write([]byte(line + "\n"))
		}
		if !sent {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("nstest: helper %s exited before it was ready: %v\n%s", name, cmd.ProcessState, p.Output())
		}
	case <-time.After(30 * time.Second): // a hang guard: a -race binary starts slowly on a loaded machine
		t.Fatalf("nstest: helper %s not ready after 30s\n%s", name, p.Output())
	}
	return p
}

// Kill sends SIGKILL and reaps the process. Killing twice is harmless.
func (p *Process) Kill() error {
	if p.Cmd.ProcessState != nil {
		return nil
	}
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	_ = p.Cmd.Wait()
	return nil
}

// Output is what the helper wrote to stderr (and stdout after Ready).
func (p *Process) Output() string { return p.output.String() }

// Getent resolves name through glibc (`getent DB NAME`, DB one of ahostsv4,
// ahostsv6, ahosts, hosts) and returns the distinct addresses in order. A
// name that does not resolve gives an error that includes getent's exit
// code (2: not found). The call is bounded by ctx.
func Getent(ctx context.Context, db, name string) ([]netip.Addr, error) {
	out, err := exec.CommandContext(ctx, "getent", db, name).Output()
	if err != nil {
		return nil, fmt.Errorf("getent %s %s: %w", db, name, err)
	}
	seen := map[netip.Addr]bool{}
	var addrs []netip.Addr
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil || seen[a] {
			continue
		}
		seen[a] = true
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// MustGetent is Getent with a 10 s bound that fails the test on error.
func MustGetent(t testing.TB, db, name string) []netip.Addr {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := Getent(ctx, db, name)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return a
}

// ResolvConfPath is the file the namespace's resolver reads.
const ResolvConfPath = "/etc/resolv.conf"

// ReadResolvConf returns the bytes of /etc/resolv.conf, failing the test on
// error.
func ReadResolvConf(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(ResolvConfPath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WriteResolvConfBehindBack rewrites /etc/resolv.conf the way DHCP clients
// and NetworkManager do: a new file renamed over the old one (or, for a
// bind mount, written in place).
func WriteResolvConfBehindBack(t testing.TB, content string, perm fs.FileMode) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(ResolvConfPath), ".resolv.conf.dhcp")
	if err := os.WriteFile(tmp, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, ResolvConfPath); err != nil {
		os.Remove(tmp)
		if err := os.WriteFile(ResolvConfPath, []byte(content), perm); err != nil {
			t.Fatal(err)
		}
	}
}

// SyncBuffer is a bytes.Buffer a process (or a reader goroutine) writes to
// while the test reads it; the zero value is ready. Set it as an
// exec.Cmd's Stdout or Stderr.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
