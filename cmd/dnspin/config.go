package main

import (
	"github.com/dnspin/dnspin/installer"
	"github.com/dnspin/dnspin/internal/config"
)

func defaultConfigPath() string { return installer.DefaultPaths().Config }

// loadConfig reads the config named by --config, or the installed one.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		path = defaultConfigPath()
	}
	return config.Load(path)
}
