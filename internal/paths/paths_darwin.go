package paths

func defaultPaths() Paths {
	return Paths{
		Config:   "/Library/Application Support/dnspin/dnspin.toml",
		StateDir: "/Library/Application Support/dnspin",
		Control:  "/var/run/dnspin/dnspin.sock",
		BinDir:   "/usr/local/bin",
	}
}
