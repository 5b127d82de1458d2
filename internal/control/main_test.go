package control

import (
	"os"
	"testing"
)

// TestMain lets the test binary act as a control client in a child process
// started with other credentials (see peer_unix_test.go).
func TestMain(m *testing.M) {
	if addr := os.Getenv(childEnv); addr != "" {
		os.Exit(runChild(addr))
	}
	os.Exit(m.Run())
}
