package nstest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// NetworkManager is a real NetworkManager (the Debian package and the three
// libraries it needs beyond a base system, unpacked) running in the test's
// namespaces on a private system bus and managing dnsv0. Start it with
// StartNetworkManager.
//
// What makes it manage a device here: NetworkManager waits for udev to
// announce every link ("platform-init" stays set, the device is strictly
// unmanaged) whenever it believes it runs in the initial network namespace
// (it compares with PID 1's, which in a PID namespace is in the test's
// own) and /sys is writable. A read-only sysfs of the test's network
// namespace on /sys makes it skip udev, as in a container.
type NetworkManager struct {
	dir  string
	libs string
	root string
}

// nmConfig is a desktop's configuration minus the parts that would reach
// beyond the namespace: keyfile connections only, no automatic "Wired
// connection 1", dnsv0 managed, dnsv1 (the test servers' side) left alone.
const nmConfig = `[main]
plugins=keyfile
no-auto-default=*
dns=%s

[keyfile]
unmanaged-devices=interface-name:dnsv1

[device-nstest]
match-device=interface-name:dnsv0
managed=1
`

// StartNetworkManager starts NetworkManager in env (made with
// Options{PIDNamespace: true}) and waits until nmcli says it runs. dns is
// its [main] dns setting: "default" (it writes /etc/resolv.conf) or
// "systemd-resolved" (it hands each link's servers to resolved over D-Bus,
// as on Ubuntu; start resolved first). nmcli is put first in PATH for
// everything the test runs.
func StartNetworkManager(t testing.TB, env *Env, dns string) *NetworkManager {
	t.Helper()
	if !env.Opts.PIDNamespace {
		t.Fatal("nstest: StartNetworkManager needs Options{PIDNamespace: true}, so the daemons die with the test")
	}
	nm := &NetworkManager{dir: filepath.Join(env.Dir, "nm"), root: Package(t, "network-manager")}
	var libs []string
	for _, p := range []string{"libnm0", "libndp0", "libteamdctl0"} {
		libs = append(libs, filepath.Join(Package(t, p), "usr/lib", multiarch()))
	}
	nm.libs = strings.Join(libs, ":")
	bin := filepath.Join(nm.dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// NetworkManager keeps state in /var/lib/NetworkManager: an overlay
	// keeps it off the host.
	varlib := filepath.Join(env.Dir, "varlib")
	for _, d := range []string{varlib + "/upper", varlib + "/work"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount("overlay", "/var/lib", "overlay", 0, "lowerdir=/var/lib,upperdir="+varlib+"/upper,workdir="+varlib+"/work"); err != nil {
		t.Fatalf("nstest: overlay on /var/lib: %v", err)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		t.Fatalf("nstest: read-only sysfs on /sys: %v", err)
	}
	startSystemBus(t, env.Dir)
	conf := filepath.Join(nm.dir, "NetworkManager.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nmConfig, dns)), 0o644); err != nil {
		t.Fatal(err)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\n# Written by internal/nstest: the unpacked nmcli with its library.\nLD_LIBRARY_PATH=%s exec %s \"$@\"\n", nm.libs, filepath.Join(nm.root, "usr/bin/nmcli"))
	if err := os.WriteFile(filepath.Join(bin, "nmcli"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Setenv("PATH", bin+":"+os.Getenv("PATH"))

	log, err := os.Create(filepath.Join(nm.dir, "NetworkManager.log"))
	if err != nil {
		t.Fatal(err)
	}
	d := exec.Command(filepath.Join(nm.root, "usr/sbin/NetworkManager"), "--no-daemon", "--debug", "--log-level=INFO",
		"--config="+conf, "--state-file="+filepath.Join(nm.dir, "NetworkManager.state"), "--pid-file="+filepath.Join(nm.dir, "NetworkManager.pid"))
	d.Env = append(os.Environ(), "LD_LIBRARY_PATH="+nm.libs)
	d.Stdout, d.Stderr = log, log
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.Process.Kill()
		_ = d.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			if len(lines) > 100 {
				lines = lines[len(lines)-100:]
			}
			t.Logf("NetworkManager's log (last 100 lines):\n%s", indent(strings.Join(lines, "\n")))
		}
	})
	waitFor(t, "NetworkManager on the bus", func() error {
		out, err := nm.TryNmcli("-t", "-f", "RUNNING", "general")
		if err != nil || strings.TrimSpace(out) != "running" {
			return fmt.Errorf("nmcli general: %v %s", err, out)
		}
		return nil
	}, nil)
	return nm
}

// multiarch is the Debian library directory name of this machine.
func multiarch() string {
	out, err := exec.Command("dpkg-architecture", "-qDEB_HOST_MULTIARCH").Output()
	if err == nil && len(strings.TrimSpace(string(out))) > 0 {
		return strings.TrimSpace(string(out))
	}
	m, _ := filepath.Glob("/usr/lib/*-linux-gnu")
	if len(m) > 0 {
		return filepath.Base(m[0])
	}
	return "x86_64-linux-gnu"
}

// Nmcli runs nmcli with args (bounded to 60 s) and returns its output; an
// error fails the test.
func (nm *NetworkManager) Nmcli(t testing.TB, args ...string) string {
	t.Helper()
	out, err := nm.TryNmcli(args...)
	if err != nil {
		t.Fatalf("nmcli %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

// TryNmcli is Nmcli returning the error instead.
func (nm *NetworkManager) TryNmcli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(nm.root, "usr/bin/nmcli"), args...)
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+nm.libs)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
