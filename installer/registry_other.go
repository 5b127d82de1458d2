//go:build !windows

package installer

// SystemRegistry is this machine's HKLM: there is none outside Windows.
func SystemRegistry() Registry { return nil }
