package main

import (
	"context"
	"fmt"
	"time"

	"github.com/dnspin/dnspin/resolver"
)

var cmdMode = command{
	name:    "mode",
	args:    "auto|pinned|passthrough",
	summary: "switch the running service's mode (pinned: use backup addresses now)",
	run: func(ctx context.Context, e *env, args []string) error {
		fs, cfg := flagSet(e)
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("name one mode: auto, pinned or passthrough")
		}
		m, err := resolver.ParseMode(pos[0])
		if err != nil {
			return usagef("%v", err)
		}
		c, err := controlClient(*cfg)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := c.SetMode(ctx, string(m)); err != nil {
			return notRunning(err, c, *cfg)
		}
		fmt.Fprintf(e.stdout, "Mode is now %s: %s\n", m, modeMeaning(m))
		return nil
	},
}

func modeMeaning(m resolver.Mode) string {
	switch m {
	case resolver.ModePinned:
		return "the platform's names are answered from backup addresses at once"
	case resolver.ModePassthrough:
		return "answers come from DNS only, never from backup addresses"
	}
	return "live DNS answers, backup addresses only when DNS fails"
}
