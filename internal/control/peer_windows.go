package control

import (
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/windows"
)

// peerCred on Windows: the pipe's security descriptor already limits who
// can connect (see listen_windows.go). Who is an administrator is decided
// per request by impersonating the client (ImpersonateNamedPipeClient needs
// data read from the pipe first, so it cannot happen at accept time) and
// asking whether its token is elevated or in BUILTIN\Administrators. The pid
// is informational only (clients can influence it).
func peerCred(c net.Conn) (Peer, error) {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return Peer{}, fmt.Errorf("peer credentials need a named pipe, got %T", c)
	}
	h := windows.Handle(f.Fd())
	var pid uint32
	_ = windows.GetNamedPipeClientProcessId(h, &pid)
	return Peer{Known: true, UID: -1, GID: -1, PID: int(pid), adminCheck: func() (bool, error) { return pipeClientIsAdmin(h) }}, nil
}

func pipeClientIsAdmin(h windows.Handle) (bool, error) {
	proc := windows.NewLazySystemDLL("advapi32.dll").NewProc("ImpersonateNamedPipeClient")
	if err := proc.Find(); err != nil {
		return false, err
	}
	// Impersonation is per OS thread: keep this goroutine on it.
	runtime.LockOSThread()
	if r, _, err := proc.Call(uintptr(h)); r == 0 {
		runtime.UnlockOSThread()
		return false, fmt.Errorf("ImpersonateNamedPipeClient: %w", err)
	}
	var tok windows.Token
	terr := windows.OpenThreadToken(windows.CurrentThread(), windows.TOKEN_QUERY, true, &tok)
	if err := windows.RevertToSelf(); err != nil {
		// The thread still wears the client's identity: leave it locked so
		// the runtime destroys it when this goroutine ends.
		if terr == nil {
			tok.Close()
		}
		return false, fmt.Errorf("RevertToSelf: %w", err)
	}
	runtime.UnlockOSThread()
	if terr != nil {
		return false, fmt.Errorf("OpenThreadToken: %w", terr)
	}
	defer tok.Close()
	if tok.IsElevated() {
		return true, nil
	}
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return false, err
	}
	return tok.IsMember(admins)
}
