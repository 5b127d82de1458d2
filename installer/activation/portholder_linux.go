package activation

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// portHolder reads proc/net/{udp,tcp}{,6} for sockets on addr, then finds
// the process owning one of their inodes under proc/*/fd.
func portHolder(proc, network, addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return ""
	}
	base := strings.TrimRight(network, "46")
	if base != "udp" && base != "tcp" {
		return ""
	}
	inodes := map[string]bool{}
	for _, f := range []string{base, base + "6"} {
		for _, ino := range socketInodes(filepath.Join(proc, "net", f), base == "tcp", ap) {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return ""
	}
	procs, err := os.ReadDir(proc)
	if err != nil {
		return ""
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(proc, p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			l, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !strings.HasPrefix(l, "socket:[") {
				continue
			}
			if inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] {
				comm, _ := os.ReadFile(filepath.Join(proc, p.Name(), "comm"))
				name := strings.TrimSpace(string(comm))
				if name == "" {
					name = "a process"
				}
				return fmt.Sprintf("%s (pid %d)", name, pid)
			}
		}
	}
	return ""
}

// socketInodes returns the inodes of sockets in a /proc/net table bound to
// ap's port on ap's address or the wildcard; for TCP only listeners.
func socketInodes(table string, tcp bool, ap netip.AddrPort) []string {
	f, err := os.Open(table)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		if tcp && fs[3] != "0A" { // TCP_LISTEN
			continue
		}
		local, ok := parseProcAddr(fs[1])
		if !ok || local.Port() != ap.Port() {
			continue
		}
		a := local.Addr()
		want := ap.Addr()
		// 0.0.0.0 holds every IPv4 address; :: (dual stack) every address.
		if a.Unmap() == want.Unmap() || (a.IsUnspecified() && (a.Is6() || want.Unmap().Is4())) {
			out = append(out, fs[9])
		}
	}
	return out
}

// parseProcAddr decodes "0100007F:0035" (IPv4) or the 32-hex-digit IPv6
// form: each 32-bit word in host (little-endian) byte order.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	b, err := hex.DecodeString(h)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.AddrPort{}, false
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(a, uint16(port)), true
}
