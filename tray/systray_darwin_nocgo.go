//go:build darwin && !cgo

package tray

import (
	"context"
	"errors"
)

// Run cannot show anything here: the macOS menu bar needs AppKit through
// cgo. Everything else in this package builds without cgo.
func Run(ctx context.Context, cfg Config) error {
	return errors.New("this dnspin-tray was built without cgo, and the macOS menu bar needs it: build it on a Mac with CGO_ENABLED=1 (Xcode command line tools installed)")
}
