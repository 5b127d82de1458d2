package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/paths"
)

// controlClient returns a client for the service's control address: config
// key `control` from --config, or the installed config, or the OS default
// when nothing is installed yet (so `dnspin status` works everywhere).
func controlClient(cfgPath string) (*control.Client, error) {
	addr := paths.Default().Control
	cfg, err := loadConfig(cfgPath)
	switch {
	case err == nil:
		addr = cfg.Control
	case cfgPath != "":
		return nil, err
	case errors.Is(err, os.ErrPermission):
		// The installed config may be readable by administrators only; a
		// box office user still gets status from the default address.
	default:
		if _, serr := os.Stat(defaultConfigPath()); !errors.Is(serr, os.ErrNotExist) {
			return nil, err // installed but invalid: say so
		}
	}
	return control.NewClient(addr), nil
}

// notRunning turns ErrNotRunning into the one line every command gives when no service runs.
func notRunning(err error, c *control.Client, cfgPath string) error {
	if !errors.Is(err, control.ErrNotRunning) {
		return err
	}
	return fmt.Errorf("dnspin is not running (no service at %s). Start it with: %s", c.Address(), startHint(cfgPath))
}

func startHint(cfgPath string) string {
	switch {
	case cfgPath != "":
		return "dnspin run --config " + cfgPath
	case runtime.GOOS == "windows":
		return "dnspin install (in an administrator prompt)"
	}
	return "sudo dnspin install"
}
