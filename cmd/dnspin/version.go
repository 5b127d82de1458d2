package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the release build: -ldflags "-X main.version=1.2.3 -X main.commit=abc -X main.date=2026-11-25".
var (
	version = ""
	commit  = ""
	date    = ""
)

var cmdVersion = command{
	name:    "version",
	summary: "print version, commit and build date",
	run: func(ctx context.Context, e *env, args []string) error {
		fs, _ := flagSet(e)
		if err := parseNoArgs(fs, args); err != nil {
			return err
		}
		v, c, d := buildInfo()
		fmt.Fprintf(e.stdout, "dnspin %s (commit %s, built %s, %s %s/%s)\n", v, c, d, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	},
}

// buildInfo returns version, commit and date, falling back to what the Go
// toolchain stamped (VCS revision and time) when -ldflags did not set them.
func buildInfo() (v, c, d string) {
	v, c, d = version, commit, date
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
				if len(c) > 12 {
					c = c[:12]
				}
			case s.Key == "vcs.time" && d == "":
				d = s.Value
			}
		}
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	if d == "" {
		d = "unknown"
	}
	return v, c, d
}
