//go:build ignore

// gen_icons writes the tray icons into icons/: one PNG (64 px, for Linux
// and macOS) and one ICO (16–64 px, for Windows) per state.
// Run with `go generate ./tray`.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/dnspin/dnspin/tray/internal/iconart"
)

func main() {
	if err := os.MkdirAll("icons", 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for name, st := range iconart.Styles() {
		for file, data := range map[string][]byte{
			name + ".png": iconart.PNG(st, iconart.PNGSize),
			name + ".ico": iconart.ICO(st),
		} {
			if err := os.WriteFile(filepath.Join("icons", file), data, 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
}
