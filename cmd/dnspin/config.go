package main

import (
	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/paths"
)

func defaultConfigPath() string { return paths.Default().Config }

// loadConfig reads the config named by --config, or the installed one.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		path = defaultConfigPath()
	}
	return config.Load(path)
}
