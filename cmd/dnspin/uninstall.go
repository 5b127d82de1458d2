package main

import (
	"context"

	"github.com/dnspin/dnspin/installer"
)

var cmdUninstall = command{
	name:    "uninstall",
	args:    "[--keep-state] [--silent]",
	summary: "remove the service, tray autostart, config and state, and restore DNS exactly (admin)",
	run: func(ctx context.Context, e *env, args []string) error {
		return runUninstall(ctx, e, args, systemInstaller())
	},
}

// runUninstall never reads the config: it must work when the config is
// broken and when the service is already gone.
func runUninstall(ctx context.Context, e *env, args []string, in *installer.Installer) error {
	fs, _ := flagSet(e)
	silent := fs.Bool("silent", false, "print one JSON line at the end (for MDM, GPO, scripts)")
	keep := fs.Bool("keep-state", false, "keep the config, learned answers, bundle and logs (for reinstalling later)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := e.admin("uninstall"); err != nil {
		return report(e, "uninstall", *silent, nil, err)
	}
	steps, err := in.Uninstall(ctx, installer.UninstallOptions{KeepState: *keep})
	return report(e, "uninstall", *silent, steps, err)
}
