// Command mkservice prints the service files the Debian package ships, from
// the same functions `dnspin install` uses, so both installs register the
// same service (packaging/deb/build.sh runs it):
//
//	mkservice systemd -exe /usr/bin/dnspin -config /etc/dnspin/dnspin.toml
//	mkservice tray-desktop -exe /usr/bin/dnspin-tray
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/dnspin/dnspin/installer"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mkservice:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: mkservice systemd|tray-desktop -exe PATH [-config PATH]")
	}
	fs := flag.NewFlagSet("mkservice "+args[0], flag.ContinueOnError)
	exe := fs.String("exe", "", "installed path of the executable")
	cfg := fs.String("config", "/etc/dnspin/dnspin.toml", "installed config")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *exe == "" {
		return errors.New("-exe PATH is required")
	}
	switch args[0] {
	case "systemd":
		_, err := io.WriteString(stdout, installer.SystemdUnit(installer.ServiceSpec{Executable: *exe, ConfigPath: *cfg}))
		return err
	case "tray-desktop":
		a := installer.TrayAutostartFor("linux", *exe)
		if a.Content == "" {
			return errors.New("installer has no Linux tray autostart file")
		}
		_, err := io.WriteString(stdout, a.Content)
		return err
	}
	return fmt.Errorf("unknown file %q (want systemd or tray-desktop)", args[0])
}
