package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// pipeSDDL is the control pipe's security descriptor:
//   - deny network logons (NU) — the pipe also rejects remote clients;
//   - SYSTEM and Administrators: full control;
//   - interactive (IU) and authenticated (AU) users: read and write data,
//     but not FILE_CREATE_PIPE_INSTANCE (0x4, part of GENERIC_WRITE), so no
//     user can put up a second instance and impersonate the service.
//     0x12019b = FILE_GENERIC_READ|FILE_GENERIC_WRITE without 0x4.
//
// Reload is further limited per request to elevated administrators (see
// peer_windows.go).
const pipeSDDL = "D:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;BA)(A;;0x12019b;;;IU)(A;;0x12019b;;;AU)"

// Listen creates the named pipe at address (\\.\pipe\NAME). It fails if the
// pipe exists: named pipes vanish with their process, so an existing one
// means another dnspin (or an impostor) is serving it.
func Listen(address string) (net.Listener, error) {
	ln, err := winio.ListenPipe(address, &winio.PipeConfig{
		SecurityDescriptor: pipeSDDL,
		InputBufferSize:    64 << 10,
		OutputBufferSize:   64 << 10,
	})
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("control pipe %s: another dnspin is already serving there: stop it first: %w", address, err)
		}
		return nil, fmt.Errorf("control pipe %s: %w", address, err)
	}
	plug, err := plugFirstInstance(address)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("control pipe %s: %w", address, err)
	}
	if plug == 0 {
		return ln, nil
	}
	return &pluggedListener{Listener: ln, plug: plug}, nil
}

// plugFirstInstance connects to the pipe once, before anything accepts, and
// returns that client handle if the connect succeeded.
//
// winio.ListenPipe creates a first pipe instance without read or write
// access, which it never accepts on: it only holds the pipe's name and
// security descriptor. Windows keeps such an instance disconnected, so
// clients reach only the instances Accept creates, and this connect fails
// with ERROR_PIPE_BUSY (nothing listens yet): nothing to do. Wine 8 lists
// that instance as listening: the first client would connect to it, write
// its request and wait for an answer forever (`dnspin status`: "context
// deadline exceeded"; packaging/wine/pipecheck reproduces it). Taking that
// instance ourselves leaves clients only the ones Accept serves.
func plugFirstInstance(address string) (windows.Handle, error) {
	p, err := windows.UTF16PtrFromString(address)
	if err != nil {
		return 0, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ, 0, nil, windows.OPEN_EXISTING, 0, 0)
	switch {
	case err == nil:
		return h, nil
	case errors.Is(err, windows.ERROR_PIPE_BUSY):
		return 0, nil
	}
	return 0, fmt.Errorf("checking the new pipe: %w", err)
}

// pluggedListener closes the plug with the listener.
type pluggedListener struct {
	net.Listener
	plug windows.Handle
	once sync.Once
}

func (l *pluggedListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { windows.CloseHandle(l.plug) })
	return err
}

// clientAccess is what the client asks for: FILE_GENERIC_READ (0x120089)
// plus FILE_WRITE_DATA (0x2). Not GENERIC_WRITE: it includes
// FILE_CREATE_PIPE_INSTANCE, which pipeSDDL withholds from users, so asking
// for it would deny every non-administrator.
const clientAccess = 0x12008b

// dial connects to the control pipe at identification level, so the service
// can check (but not act as) the caller's identity for reload.
func dial(ctx context.Context, address string) (net.Conn, error) {
	c, err := winio.DialPipeAccessImpLevel(ctx, address, clientAccess, winio.PipeImpLevelIdentification)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%w (no service at %s)", ErrNotRunning, address)
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("dnspin service at %s: access denied: only logged-in users may connect", address)
	}
	return nil, fmt.Errorf("dnspin service at %s: %w", address, err)
}

// AdminHint says how to run what as an administrator: the end of every
// refusal, in the service and the command line.
func AdminHint(what string) string {
	return "run " + what + " from an elevated prompt (Run as administrator)"
}

// lookupGroup: Windows administrators are decided by their token (see
// peer_windows.go), not by a group of dnspin's.
func lookupGroup(name string) (int, error) {
	return 0, errors.New("admin groups other than Administrators are not used on Windows")
}
