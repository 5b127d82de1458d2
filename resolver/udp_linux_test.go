package resolver

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

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

// deepQueue is true for a socket whose receive queue is more than an
// eighth full, and false once it is read empty.
func TestDeepQueue(t *testing.T) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	rc, err := pc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if deepQueue(rc) {
		t.Fatal("empty socket: deep")
	}
	c, err := net.DialUDP("udp", nil, pc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pkt := make([]byte, 100)
	for range 2000 { // far more than 64 KiB hold, bookkeeping included
		c.Write(pkt)
	}
	if !deepQueue(rc) {
		t.Fatal("socket with a full receive queue: not deep")
	}
	buf := make([]byte, 512)
	for {
		pc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := pc.Read(buf); err != nil {
			break // read empty
		}
	}
	if deepQueue(rc) {
		t.Fatal("socket read empty: still deep")
	}
}
