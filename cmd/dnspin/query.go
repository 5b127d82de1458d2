package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/resolver"
)

var cmdQuery = command{
	name:    "query",
	args:    "NAME [--type A|AAAA] [--server ADDR]",
	summary: "ask the resolver one question; shows answer, source and time",
	run: func(ctx context.Context, e *env, args []string) error {
		fs, cfgPath := flagSet(e)
		qtype := fs.String("type", "A", "record type: A or AAAA (others by name, e.g. MX)")
		server := fs.String("server", "", "server IP:port (default: the first listen address of the config)")
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("give exactly one NAME")
		}
		t, ok := dns.StringToType[strings.ToUpper(*qtype)]
		if !ok {
			return usagef("unknown --type %q: use A or AAAA", *qtype)
		}
		if _, ok := dns.IsDomainName(pos[0]); !ok {
			return usagef("%q is not a domain name", pos[0])
		}
		addr := *server
		if addr == "" {
			cfg, err := loadConfig(*cfgPath)
			if err != nil {
				return err
			}
			addr = cfg.Listen[0]
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, "53")
		}
		return query(ctx, e, addr, pos[0], t)
	},
}

func query(ctx context.Context, e *env, addr, name string, qtype uint16) error {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(1232, false) // so the resolver can say where the answer came from (EDE)
	c := &dns.Client{Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, 6*time.Second)
	defer cancel()
	start := time.Now()
	r, _, err := c.ExchangeContext(ctx, q, addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, q, addr)
	}
	took := time.Since(start)
	if err != nil {
		return fmt.Errorf("no answer from %s: %w (is dnspin running there? try dnspin status)", addr, err)
	}
	src := resolver.SourceFromEDE(r)
	if src == "" {
		src = "live"
	}
	for _, rr := range r.Answer {
		fmt.Fprintln(e.stdout, rr.String())
	}
	fmt.Fprintf(e.stdout, "status: %s  source: %s  time: %s  server: %s\n", dns.RcodeToString[r.Rcode], src, took.Round(100*time.Microsecond), addr)
	if r.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("%s %s: %s", name, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode])
	}
	if len(r.Answer) == 0 {
		return fmt.Errorf("%s has no %s records", name, dns.TypeToString[qtype])
	}
	return nil
}
