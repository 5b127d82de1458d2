//go:build !windows

package activation

// SystemRegistry is this machine's HKLM: there is none outside Windows.
func SystemRegistry() Registry { return nil }
