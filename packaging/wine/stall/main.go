//go:build windows

// Command stall stands in for a system tool (ipconfig.exe) in the Wine
// tests: it creates the file named by DNSPIN_WINE_STALL_MARK, so the test
// knows the caller got this far, then waits (at most two minutes) to be
// killed with it. The test kills `dnspin activate` while it waits here,
// after its registry writes and before it returns.
package main

import (
	"os"
	"time"
)

func main() {
	if p := os.Getenv("DNSPIN_WINE_STALL_MARK"); p != "" {
		_ = os.WriteFile(p, []byte("stalled\n"), 0o644)
	}
	time.Sleep(2 * time.Minute)
	os.Exit(1)
}
