//go:build !linux && !darwin

package control

const childEnv = "DNSPIN_CONTROL_TEST_CHILD"

// runChild is only used by the Unix peer-credential test.
func runChild(string) int { return 2 }
