package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/daemon"
	"github.com/dnspin/dnspin/internal/redact"
)

var cmdActivate = command{
	name:    "activate",
	args:    "[--dry-run] [--config F]",
	summary: "point the system's DNS at dnspin (deactivate puts back exactly what was there)",
	run:     runActivate,
}

// activationOptions are the activation seams for cfg, logging warnings and
// errors to w (the command line stays quiet when all goes well).
func activationOptions(cfg *config.Config, w io.Writer) activation.Options {
	return activation.Options{
		StateDir: cfg.StateDir,
		Logger:   slog.New(redact.Handler(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	}
}

func runActivate(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := flagSet(e)
	dry := fs.Bool("dry-run", false, "print what would change and check that dnspin answers; change nothing")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if !*dry {
		if err := e.admin("activate"); err != nil {
			return err
		}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	o := activationOptions(cfg, e.stderr)
	plan := daemon.Plan(cfg)
	c, err := activation.NewConfigurator(ctx, o)
	if err != nil {
		return err
	}
	if *dry {
		if d, ok := c.(activation.DryRunner); ok {
			text, err := d.DryRun(ctx, plan)
			if err != nil {
				return err
			}
			fmt.Fprint(e.stdout, text)
		} else {
			fmt.Fprintf(e.stdout, "mode: %s\ndomains: %s\nresolver: %s\n", plan.Mode, strings.Join(plan.Domains, ", "), strings.Join(plan.Resolver, ", "))
		}
		if err := preflight(ctx, cfg); err != nil {
			fmt.Fprintf(e.stdout, "\npreflight: FAILS: %v\n", err)
			return errors.New("activation would fail (see above); nothing was changed")
		}
		fmt.Fprintf(e.stdout, "\npreflight: dnspin answers on %s\nnothing was changed (dry run)\n", strings.Join(cfg.Listen, ", "))
		return nil
	}
	// A journal left by a crash is restored first, so what is recorded as
	// "the original" is never dnspin's own file.
	was, _, err := activation.Recover(ctx, o)
	if err != nil {
		return err
	}
	if was {
		fmt.Fprintln(e.stdout, "Restored the DNS settings an earlier run left active; applying them again.")
	}
	if err := preflight(ctx, cfg); err != nil {
		return err
	}
	if err := c.Apply(ctx, plan); err != nil {
		return err
	}
	snap, _ := c.Current(ctx)
	what := "the platform's names"
	if plan.Mode == "full" {
		what = "all DNS"
	}
	fmt.Fprintf(e.stdout, "Activated: %s now goes to dnspin (%s, via %s). `dnspin deactivate` puts back exactly what was there.\n", what, plan.Mode, snap.Backend)
	for _, n := range snap.Notes {
		fmt.Fprintf(e.stdout, "Note: %s\n", n)
	}
	return nil
}

// otherDNSServers are programs that answer DNS but are not dnspin: one of
// them answering on dnspin's address means activation would send the
// system's queries to it.
var otherDNSServers = []string{"dnsmasq", "named", "unbound", "systemd-resolve", "pdns_recursor", "coredns", "knot-resolver", "kresd", "dnscrypt-proxy", "stubby", "pihole-FTL"}

// preflight makes sure dnspin answers a real DNS query on each listen
// address before anything is changed. If not, the error names the program
// holding the port (if any) and what to do.
func preflight(ctx context.Context, cfg *config.Config) error {
	src := daemon.ConfigName(cfg)
	for _, addr := range cfg.Listen {
		answered := answers(ctx, addr)
		holder := activation.PortHolder("udp", addr)
		if answered && !isOtherDNSServer(holder) {
			continue
		}
		return notAnswering(addr, holder, src)
	}
	return nil
}

// notAnswering explains why the address addr, held by holder ("" when
// nobody or unknown; see activation.PortHolder), cannot take the system's
// DNS; src names the config.
func notAnswering(addr, holder, src string) error {
	prog, _, _ := strings.Cut(holder, " ")
	switch {
	case prog == "dnspin" || prog == "dnspin.exe":
		return fmt.Errorf("%s is held by %s, which did not answer a DNS query within 2 s: it may still be starting, or be stuck; look at `dnspin status` and its log, restart the dnspin service if it stays so, then run `dnspin activate` again; nothing was changed", addr, holder)
	case holder != "":
		return fmt.Errorf("%s is held by %s, not dnspin: stop it (for example `systemctl disable --now %s`) or give dnspin another address with listen in %s, then run `dnspin activate` again; nothing was changed",
			addr, holder, prog, src)
	}
	return fmt.Errorf("nothing answers DNS on %s: start the dnspin service first (`dnspin install`, or `dnspin run` to try it), then run `dnspin activate` again; nothing was changed", addr)
}

func isOtherDNSServer(holder string) bool {
	return holder != "" && slices.Contains(otherDNSServers, strings.Fields(holder)[0])
}

// answers sends one real DNS query to addr and reports whether any DNS answer
// came back within two seconds.
func answers(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion("use-application-dns.net.", dns.TypeA) // dnspin always answers it (NXDOMAIN)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.ExchangeContext(ctx, m, addr)
	return err == nil && r != nil && r.Id == m.Id
}
