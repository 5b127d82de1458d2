package control

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// peerCred reads SO_PEERCRED: the uid, gid and pid of the process that
// connected, as the kernel recorded them at connect time. SO_PEERCRED has
// no supplementary groups, so they come from /proc/PID/status, and only
// while that process still runs with the uid and gid the kernel recorded:
// a pid reused by another process, or a client that exec'd a set-id
// program since, gets its primary group only (never more rights).
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
	p := Peer{Known: true, UID: int(cred.Uid), GID: int(cred.Gid), Groups: []int{int(cred.Gid)}, PID: int(cred.Pid)}
	if f, err := os.Open("/proc/" + strconv.Itoa(p.PID) + "/status"); err == nil {
		uid, gid, groups, err := procCreds(f)
		f.Close()
		if err == nil && uid == p.UID && gid == p.GID {
			p.Groups = append(p.Groups, groups...)
		}
	}
	return p, nil
}

// procCreds reads the effective uid and gid and the supplementary groups
// from a /proc/PID/status file.
func procCreds(r io.Reader) (uid, gid int, groups []int, err error) {
	uid, gid = -1, -1
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		switch key {
		case "Uid", "Gid": // real, effective, saved, filesystem
			if len(f) < 2 {
				return -1, -1, nil, fmt.Errorf("%s line %q", key, val)
			}
			n, err := strconv.Atoi(f[1])
			if err != nil {
				return -1, -1, nil, fmt.Errorf("%s line: %w", key, err)
			}
			if key == "Uid" {
				uid = n
			} else {
				gid = n
			}
		case "Groups":
			for _, s := range f {
				g, err := strconv.Atoi(s)
				if err != nil {
					return -1, -1, nil, fmt.Errorf("Groups line: %w", err)
				}
				groups = append(groups, g)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return -1, -1, nil, err
	}
	if uid < 0 || gid < 0 {
		return -1, -1, nil, fmt.Errorf("no Uid or Gid line")
	}
	return uid, gid, groups, nil
}
