// Package mode is the operator's choice of how protected names are
// answered: the one list of modes that the config, the control API and the
// resolver check against. It is a leaf (standard library only), so the
// control API's clients (the tray) do not link the resolver to parse a mode.
package mode

import "fmt"

// Mode is one of Auto, Pinned or Passthrough.
type Mode string

const (
	Auto        Mode = "auto"        // live answers, pins/learned when upstream fails
	Pinned      Mode = "pinned"      // pins/learned at once, never wait on upstream
	Passthrough Mode = "passthrough" // forward only, no pins or learned answers
)

// Parse checks s names a mode.
func Parse(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Auto, Pinned, Passthrough:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q: use auto, pinned or passthrough", s)
}
