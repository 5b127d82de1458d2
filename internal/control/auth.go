package control

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// AdminGroup is the group whose members may do what root may (Linux,
// macOS): switch to passthrough, reload, get the full report.
const AdminGroup = "dnspin"

// identity is who a request comes from, as far as rights and limits go.
type identity struct {
	User  string // whom per-user limits count: "uid 1000", a Windows SID, "unknown"
	Admin bool
}

// identify says who p is. An unknown peer is nobody's administrator and
// shares one set of limits with every other unknown peer.
func (s *server) identify(p Peer) identity {
	if !p.Known {
		return identity{User: "unknown"}
	}
	if p.lazy != nil {
		id, err := p.lazy.get()
		if err != nil {
			s.o.Logger.Warn("control: cannot tell who the client is; treating it as a user without rights", "peer", p, "err", err)
			return identity{User: "unknown"}
		}
		return id
	}
	return identity{User: "uid " + strconv.Itoa(p.UID), Admin: s.isAdminUnix(p)}
}

// isAdminUnix: root (AdminUID) or a member of the admin group.
func (s *server) isAdminUnix(p Peer) bool {
	if p.UID >= 0 && p.UID == s.o.AdminUID {
		return true
	}
	if s.o.AdminGID != 0 {
		if p.GID == s.o.AdminGID {
			return true
		}
		for _, g := range p.Groups {
			if g == s.o.AdminGID {
				return true
			}
		}
	}
	return false
}

// lazyIdentity learns a peer's identity once, on first use.
type lazyIdentity struct {
	once  sync.Once
	learn func() (identity, error)
	id    identity
	err   error
}

func (l *lazyIdentity) get() (identity, error) {
	l.once.Do(func() { l.id, l.err = l.learn() })
	return l.id, l.err
}

// String is for logs; it does not trigger the lookup (which needs a
// request read first), so it names no user.
func (l *lazyIdentity) String() string {
	return "(user from its token)"
}

// clientToken is what the Windows admin check needs of the pipe client's
// access token; an interface so the decision is tested on every OS.
type clientToken interface {
	IsElevated() bool
	IsAdministrator() (bool, error) // effectively in BUILTIN\Administrators (not deny-only)
	UserSID() (string, error)
}

// identityFromToken: a Windows client is an administrator when its token is
// elevated, or counts as a member of Administrators (a deny-only entry, the
// case of an admin account at a normal prompt under UAC, does not count).
// Per-user limits count by the token's user SID.
func identityFromToken(t clientToken) (identity, error) {
	sid, err := t.UserSID()
	if err != nil {
		return identity{}, fmt.Errorf("reading the client's user: %w", err)
	}
	if t.IsElevated() {
		return identity{User: sid, Admin: true}, nil
	}
	admin, err := t.IsAdministrator()
	if err != nil {
		return identity{User: sid}, fmt.Errorf("checking the client's groups: %w", err)
	}
	return identity{User: sid, Admin: admin}, nil
}

// userSlots shares a bounded resource among local users: each user holds
// at most perUser; users who are not administrators together hold at most
// shared. Administrators are held only to their own share, so other users
// can never take the last slot from them.
type userSlots struct {
	perUser, shared int

	mu     sync.Mutex
	held   map[string]int
	others int // held by users who are not administrators
}

func newUserSlots(perUser, shared int) *userSlots {
	return &userSlots{perUser: perUser, shared: shared, held: map[string]int{}}
}

// take returns a release func, or why not ("" when granted).
func (u *userSlots) take(id identity) (release func(), why string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.held[id.User] >= u.perUser:
		return nil, fmt.Sprintf("%d of one user", u.perUser)
	case !id.Admin && u.others >= u.shared:
		return nil, fmt.Sprintf("%d of all users", u.shared)
	}
	u.held[id.User]++
	if !id.Admin {
		u.others++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			defer u.mu.Unlock()
			if u.held[id.User]--; u.held[id.User] == 0 {
				delete(u.held, id.User)
			}
			if !id.Admin {
				u.others--
			}
		})
	}, ""
}

// refusalWarnEvery is how often one user's refusals are logged at Warn;
// the rest go to Debug, so no user can push the lines support needs out of
// the log (the report carries only the last few hundred).
const refusalWarnEvery = time.Minute

// logRefusal logs a refused request: at Warn once per refusalWarnEvery per
// user, else at Debug.
func (s *server) logRefusal(id identity, msg string, args ...any) {
	now := s.o.Now()
	s.warnMu.Lock()
	last, seen := s.warned[id.User]
	warn := !seen || now.Sub(last) >= refusalWarnEvery
	if warn {
		if len(s.warned) >= 256 { // bounded: forget everyone rather than grow
			clear(s.warned)
		}
		s.warned[id.User] = now
	}
	s.warnMu.Unlock()
	level := slog.LevelDebug
	if warn {
		level = slog.LevelWarn
	}
	s.o.Logger.Log(context.Background(), level, msg, args...)
}
