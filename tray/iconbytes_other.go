//go:build !windows

package tray

// iconBytes is the icon as PNG, which the Linux StatusNotifierItem code and
// the macOS menu bar decode.
func iconBytes(i Icon) []byte { return IconPNG(i) }
