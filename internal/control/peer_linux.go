package control

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerCred reads SO_PEERCRED: the uid, gid and pid of the process that
// connected, as the kernel recorded them at connect time. Linux gives no
// supplementary groups, so AdminGID matches the primary group only.
func peerCred(c net.Conn) (Peer, error) {
	var cred *unix.Ucred
	if err := peerSockopt(c, func(fd int) error {
		var err error
		if cred, err = unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED); err != nil {
			return fmt.Errorf("SO_PEERCRED: %w", err)
		}
		return nil
	}); err != nil {
		return Peer{}, err
	}
	return Peer{Known: true, UID: int(cred.Uid), GID: int(cred.Gid), Groups: []int{int(cred.Gid)}, PID: int(cred.Pid)}, nil
}
