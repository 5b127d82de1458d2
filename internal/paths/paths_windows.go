package paths

import (
	"os"
	"path/filepath"
)

func defaultPaths() Paths {
	pd := os.Getenv("ProgramData")
	if pd == "" {
		pd = `C:\ProgramData`
	}
	pf := os.Getenv("ProgramFiles")
	if pf == "" {
		pf = `C:\Program Files`
	}
	return Paths{
		Config:   filepath.Join(pd, "dnspin", "dnspin.toml"),
		StateDir: filepath.Join(pd, "dnspin"),
		Control:  `\\.\pipe\dnspin`,
		BinDir:   filepath.Join(pf, "dnspin"),
	}
}
