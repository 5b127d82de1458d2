package control

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerCred reads LOCAL_PEERCRED (what getpeereid uses): the effective uid
// and up to 16 groups of the process that connected, and LOCAL_PEERPID.
func peerCred(c net.Conn) (Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Peer{}, fmt.Errorf("peer credentials need a Unix socket, got %T", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var x *unix.Xucred
	var pid int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		x, serr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if serr == nil {
			pid, _ = unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		}
	}); err != nil {
		return Peer{}, err
	}
	if serr != nil {
		return Peer{}, fmt.Errorf("LOCAL_PEERCRED: %w", serr)
	}
	p := Peer{Known: true, UID: int(x.Uid), GID: -1, PID: pid}
	n := int(x.Ngroups)
	if n > len(x.Groups) {
		n = len(x.Groups)
	}
	for i := 0; i < n; i++ {
		p.Groups = append(p.Groups, int(x.Groups[i]))
	}
	if n > 0 {
		p.GID = p.Groups[0]
	}
	return p, nil
}
