package main

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
)

var errAlreadyRunning = errors.New("dnspin-tray is already running for this user")

// mutexName is per logon session ("Local\"): each desktop session of a user
// (console, remote desktop) gets its own tray icon, and only one.
const mutexName = `Local\dnspin-tray`

// acquireInstance creates the named mutex; if it already exists another
// tray runs in this session. Windows closes the handle when the process
// ends, however it ends. dir is unused on Windows.
func acquireInstance(dir string) (release func(), err error) {
	name, err := windows.UTF16PtrFromString(mutexName)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateMutex(nil, false, name)
	if errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
		if h != 0 {
			windows.CloseHandle(h)
		}
		return nil, errAlreadyRunning
	}
	if err != nil {
		return nil, fmt.Errorf("creating mutex %s: %w", mutexName, err)
	}
	return func() { windows.CloseHandle(h) }, nil
}
