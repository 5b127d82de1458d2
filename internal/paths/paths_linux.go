package paths

func defaultPaths() Paths {
	return Paths{
		Config:   "/etc/dnspin/dnspin.toml",
		StateDir: "/var/lib/dnspin",
		Control:  "/run/dnspin/dnspin.sock",
		BinDir:   "/usr/local/bin",
	}
}
