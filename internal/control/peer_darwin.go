package control

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerCred reads LOCAL_PEERCRED (what getpeereid uses): the effective uid
// and up to 16 groups of the process that connected, and LOCAL_PEERPID.
func peerCred(c net.Conn) (Peer, error) {
	var x *unix.Xucred
	var pid int
	if err := peerSockopt(c, func(fd int) error {
		var err error
		if x, err = unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED); err != nil {
			return fmt.Errorf("LOCAL_PEERCRED: %w", err)
		}
		pid, _ = unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		return nil
	}); err != nil {
		return Peer{}, err
	}
	p := Peer{Known: true, UID: int(x.Uid), GID: -1, PID: pid}
	n := min(int(x.Ngroups), len(x.Groups))
	for i := 0; i < n; i++ {
		p.Groups = append(p.Groups, int(x.Groups[i]))
	}
	if n > 0 {
		p.GID = p.Groups[0]
	}
	return p, nil
}
