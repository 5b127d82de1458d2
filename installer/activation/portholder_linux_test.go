package activation

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
)

func TestPortHolderFindsThisProcess(t *testing.T) {
	t.Parallel()
	comm, _ := os.ReadFile("/proc/self/comm")
	want := fmt.Sprintf("%s (pid %d)", strings.TrimSpace(string(comm)), os.Getpid())

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if got := PortHolder("udp", pc.LocalAddr().String()); got != want {
		t.Fatalf("udp holder = %q, want %q", got, want)
	}
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer l.Close()
	if got := PortHolder("tcp", l.Addr().String()); got != want {
		t.Fatalf("tcp6 holder = %q, want %q", got, want)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if got := PortHolder("udp", fmt.Sprintf("[::1]:%d", port)); got != "" {
		t.Fatalf("udp on a tcp-only port: %q", got)
	}
	pc.Close()
	if got := PortHolder("udp", pc.LocalAddr().String()); got != "" {
		t.Fatalf("closed socket still held by %q", got)
	}
}

func TestParseProcAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0100007F:0035":                         "127.0.0.1:53",
		"00000000:14E9":                         "0.0.0.0:5353",
		"00000000000000000000000001000000:0035": "[::1]:53",
		"0000000000000000FFFF00000100007F:0035": "[::ffff:127.0.0.1]:53",
	} {
		got, ok := parseProcAddr(in)
		if !ok || got.String() != want {
			t.Errorf("parseProcAddr(%s) = %v %v, want %s", in, got, ok, want)
		}
	}
}
