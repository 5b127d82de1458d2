package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func cloneAttr(o Options) *syscall.SysProcAttr {
	flags := uintptr(syscall.CLONE_NEWNET | syscall.CLONE_NEWNS)
	if o.PIDNamespace {
		flags |= syscall.CLONE_NEWPID
	}
	return &syscall.SysProcAttr{
		Cloneflags: flags,
		Pdeathsig:  syscall.SIGKILL, // never leave a namespaced child behind
	}
}

// scratch is where the namespace's tmpfs is mounted: /run, so that /run/nscd,
// /run/systemd/resolve, /run/NetworkManager and /run/resolvconf start empty.
const scratch = "/run"

func setup(o Options) (*Env, error) {
	if o.ResolvConf == "" {
		o.ResolvConf = "nameserver 127.0.0.2\n"
	}
	if o.ResolvConfMode == 0 {
		o.ResolvConfMode = 0o644
	}
	mount := func(src, dst, typ string, flags uintptr, data string) error {
		if err := unix.Mount(src, dst, typ, flags, data); err != nil {
			return fmt.Errorf("mount %s on %s (%s): %w", src, dst, typ, err)
		}
		return nil
	}
	// Nothing this process mounts may propagate to the host.
	if err := mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, err
	}
	if err := mount("nstest", scratch, "tmpfs", 0, "mode=0755,size=64m"); err != nil {
		return nil, err
	}
	if o.PIDNamespace {
		// The host's /proc shows the host's processes; daemons and tools
		// (pidof, /proc/PID) must see this namespace's.
		if err := mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return nil, err
		}
	}
	dir := filepath.Join(scratch, "nstest")
	upper, work := filepath.Join(dir, "etc-upper"), filepath.Join(dir, "etc-work")
	for _, d := range []string{dir, upper, work, filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := mount("overlay", "/etc", "overlay", 0, "lowerdir=/etc,upperdir="+upper+",workdir="+work); err != nil {
		return nil, err
	}
	if err := os.WriteFile("/etc/nsswitch.conf", []byte("passwd: files\ngroup: files\nhosts: files dns\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile("/etc/hosts", []byte("127.0.0.1 localhost\n::1 localhost\n"), 0o644); err != nil {
		return nil, err
	}
	if err := writeResolvConf(o, dir, mount); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "dnsv0", "type", "veth", "peer", "name", "dnsv1"},
		{"addr", "add", VethAddr.String() + "/30", "dev", "dnsv0"},
		{"addr", "add", PeerAddr.String() + "/30", "dev", "dnsv1"},
		{"link", "set", "dnsv0", "up"},
		{"link", "set", "dnsv1", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ip %v: %w: %s (is iproute2 installed?)", args, err, out)
		}
	}
	return &Env{Dir: dir, Opts: o}, nil
}

func writeResolvConf(o Options, dir string, mount func(src, dst, typ string, flags uintptr, data string) error) error {
	if err := os.Remove(ResolvConfPath); err != nil && !os.IsNotExist(err) {
		return err
	}
	target := ResolvConfPath
	switch {
	case o.Symlink != "":
		if err := os.MkdirAll(filepath.Dir(o.Symlink), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(o.Symlink, ResolvConfPath); err != nil {
			return err
		}
		target = o.Symlink
	case o.BindMountResolvConf:
		target = filepath.Join(dir, "resolv.conf.bind")
	}
	if err := os.WriteFile(target, []byte(o.ResolvConf), o.ResolvConfMode); err != nil {
		return err
	}
	if err := os.Chmod(target, o.ResolvConfMode); err != nil { // umask-proof
		return err
	}
	if o.BindMountResolvConf && o.Symlink == "" {
		if err := os.WriteFile(ResolvConfPath, nil, 0o644); err != nil {
			return err
		}
		return mount(target, ResolvConfPath, "", unix.MS_BIND, "")
	}
	return nil
}

// overlay puts a writable overlay over dir (upper and work layers on the
// namespace's tmpfs), so files can be added below it; the host's stay
// untouched.
func overlay(scratchDir, dir string) error {
	name := strings.ReplaceAll(strings.Trim(dir, "/"), "/", "-")
	upper, work := filepath.Join(scratchDir, name+"-upper"), filepath.Join(scratchDir, name+"-work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("overlay", dir, "overlay", 0, "lowerdir="+dir+",upperdir="+upper+",workdir="+work); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", dir, err)
	}
	return nil
}
