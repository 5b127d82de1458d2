package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dnspin/dnspin/internal/control"
)

var cmdReport = command{
	name:    "report",
	args:    "[-o FILE]",
	summary: "save a support report (status, redacted config, recent log, OS DNS, checks) to a file",
	run: func(ctx context.Context, e *env, args []string) error {
		fs, cfg := flagSet(e)
		out := fs.String("o", "", "file to write (default: dnspin-report-DATE-TIME.txt in the current directory; - for stdout)")
		if err := parseNoArgs(fs, args); err != nil {
			return err
		}
		c, err := controlClient(*cfg)
		if err != nil {
			return err
		}
		// The report runs the checks, which probe the network.
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		rep, reduced, err := c.ReportScope(ctx)
		if err != nil {
			return notRunning(err, c, *cfg)
		}
		if reduced {
			defer fmt.Fprintln(e.stderr, "note: this report has no configuration and no log, which need an administrator: "+control.AdminHint("dnspin report")+" for the full report")
		}
		if *out == "-" {
			_, err := e.stdout.Write(rep)
			return err
		}
		path := *out
		if path == "" {
			path = control.ReportFileName(time.Now())
		}
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		// 0644: the user who asked may need to attach it to an e-mail even
		// when the command ran with sudo.
		if err := os.WriteFile(path, rep, 0o644); err != nil {
			return fmt.Errorf("writing the report to %s: %w (choose another place with -o FILE)", path, err)
		}
		fmt.Fprintf(e.stdout, "Support report written to %s (%d KiB). Send this file to your support contact.\n", path, (len(rep)+1023)/1024)
		return nil
	},
}
