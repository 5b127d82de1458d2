//go:build !windows

package tray

// platformTooltip is the tooltip as the binding hands it to the library:
// other desktops take the model's tooltip as it is.
func platformTooltip(s string) string { return s }
