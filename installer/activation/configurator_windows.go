package activation

import "context"

// The logic lives in windows_dns.go and nrpt.go (no build tags, tested on
// every OS); this file only hands it the real registry.

func newConfigurator(ctx context.Context, o Options) (Configurator, error) {
	return NewWindowsConfigurator(o, WinRegistry{}), nil
}

func currentResolvers(ctx context.Context, o Options) ([]string, error) {
	return windowsResolvers(WinRegistry{})
}
