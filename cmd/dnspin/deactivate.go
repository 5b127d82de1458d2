package main

import (
	"context"
	"fmt"

	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/paths"
)

var cmdDeactivate = command{
	name:    "deactivate",
	args:    "[--config F]",
	summary: "put back exactly the DNS settings dnspin found (works with a broken config too)",
	run:     runDeactivate,
}

func runDeactivate(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := flagSet(e)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := e.admin("deactivate"); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		// Restoring DNS must never depend on a valid config: fall back to
		// the default state directory, where the journal normally is.
		fmt.Fprintf(e.stderr, "dnspin deactivate: %v; using the default state directory %s\n", err, paths.Default().StateDir)
		cfg = config.Default()
	}
	o := activationOptions(cfg, e.stderr)
	j, err := activation.ReadJournal(activation.OSFS{}, o.StateDir)
	if err != nil {
		return err
	}
	if j == nil {
		fmt.Fprintln(e.stdout, "dnspin was not active; nothing to restore.")
		return nil
	}
	c, err := activation.NewConfigurator(ctx, o)
	if err != nil {
		return err
	}
	if err := c.Restore(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Restored the DNS settings dnspin found before activation (%s).\n", j.Backend)
	return nil
}
