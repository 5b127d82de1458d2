package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dnspin/dnspin/internal/check"
	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/daemon"
)

var cmdCheck = command{
	name:    "check",
	args:    "[--json] [--config F]",
	summary: "is the system using dnspin, do the platform's names resolve, do pinned addresses prove by TLS that they serve them",
	run:     runCheck,
}

func runCheck(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := flagSet(e)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	in := daemon.CheckInputs(ctx, cfg, activationOptions(cfg, e.stderr))
	// With the service running, prove the system path reaches it by its
	// answer counters rising, not only from the settings.
	cl := control.NewClient(cfg.Control)
	if st, err := cl.Status(ctx); err == nil {
		in.Answered = check.AnsweredFrom(cl.Status)
		// Learned addresses and a bundle's pins are the service's: report its last checks.
		in.Learned, in.ServicePins = st.LearnedChecks, st.PinChecks
	}
	// Redacted like the service's answer: the output goes into tickets.
	rep := check.Run(ctx, in).Redacted()
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		for _, r := range rep.Results {
			mark := "ok  "
			if !r.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(e.stdout, "%s %s\n", mark, r.Detail)
		}
	}
	if !rep.OK {
		return errors.New("some checks failed (see above)")
	}
	return nil
}
