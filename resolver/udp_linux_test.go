package resolver

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The listening UDP sockets get udpRecvBuffer: as root (the service, CI)
// past net.core.rmem_max, else up to it.
func TestListenRecvBuffer(t *testing.T) {
	r := startLimited(t, testConfig(), Options{})
	want := udpRecvBuffer
	if os.Geteuid() != 0 {
		if b, err := os.ReadFile("/proc/sys/net/core/rmem_max"); err == nil {
			if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				want = min(want, v)
			}
		}
	}
	r.mu.Lock()
	uc := r.udp[0]
	r.mu.Unlock()
	rc, err := uc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	rc.Control(func(fd uintptr) { got, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) })
	if err != nil {
		t.Fatal(err)
	}
	if got/2 < want {
		t.Fatalf("SO_RCVBUF %d (kernel reports double), want at least %d", got/2, want)
	}
}
