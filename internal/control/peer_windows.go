package control

import (
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/windows"
)

// peerCred on Windows: the pipe's security descriptor already limits who
// can connect (see listen_windows.go). Who the client is, and whether it is
// an administrator, is learnt on the first request by impersonating it
// (ImpersonateNamedPipeClient needs data read from the pipe first, so it
// cannot happen at accept time): its user SID, and whether its token is
// elevated or in BUILTIN\Administrators. The pid is informational only
// (clients can influence it), so per-user connection limits, which would
// need the user at accept time, do not apply on Windows; event stream
// limits do.
func peerCred(c net.Conn) (Peer, error) {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return Peer{}, fmt.Errorf("peer credentials need a named pipe, got %T", c)
	}
	h := windows.Handle(f.Fd())
	var pid uint32
	_ = windows.GetNamedPipeClientProcessId(h, &pid)
	return Peer{Known: true, UID: -1, GID: -1, PID: int(pid), lazy: &lazyIdentity{learn: func() (identity, error) { return pipeClientIdentity(h) }}}, nil
}

// pipeClientIdentity impersonates the pipe's client for a moment to read
// its token: the user's SID (for per-user limits) and whether it is an
// administrator.
func pipeClientIdentity(h windows.Handle) (identity, error) {
	proc := windows.NewLazySystemDLL("advapi32.dll").NewProc("ImpersonateNamedPipeClient")
	if err := proc.Find(); err != nil {
		return identity{}, err
	}
	// Impersonation is per OS thread: keep this goroutine on it.
	runtime.LockOSThread()
	if r, _, err := proc.Call(uintptr(h)); r == 0 {
		runtime.UnlockOSThread()
		return identity{}, fmt.Errorf("ImpersonateNamedPipeClient: %w", err)
	}
	var tok windows.Token
	terr := windows.OpenThreadToken(windows.CurrentThread(), windows.TOKEN_QUERY, true, &tok)
	if err := windows.RevertToSelf(); err != nil {
		// The thread still wears the client's identity: leave it locked so
		// the runtime destroys it when this goroutine ends.
		if terr == nil {
			tok.Close()
		}
		return identity{}, fmt.Errorf("RevertToSelf: %w", err)
	}
	runtime.UnlockOSThread()
	if terr != nil {
		return identity{}, fmt.Errorf("OpenThreadToken: %w", terr)
	}
	defer tok.Close()
	return identityFromToken(winToken{tok})
}

// winToken is a client's token as identityFromToken reads it.
type winToken struct{ t windows.Token }

func (w winToken) IsElevated() bool { return w.t.IsElevated() }

func (w winToken) IsAdministrator() (bool, error) {
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return false, err
	}
	return w.t.IsMember(admins)
}

func (w winToken) UserSID() (string, error) {
	u, err := w.t.GetTokenUser()
	if err != nil {
		return "", err
	}
	return u.User.Sid.String(), nil
}
