//go:build !linux && !darwin && !windows

package paths

func defaultPaths() Paths {
	return Paths{
		Config:   "/usr/local/etc/dnspin/dnspin.toml",
		StateDir: "/var/db/dnspin",
		Control:  "/var/run/dnspin/dnspin.sock",
		BinDir:   "/usr/local/bin",
	}
}
