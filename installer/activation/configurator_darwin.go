package activation

import "context"

// The logic lives in macos_dns.go (no build tags, tested on every OS); this
// file only hands it the real seams.

func newConfigurator(ctx context.Context, o Options) (Configurator, error) {
	return NewMacOSConfigurator(o), nil
}

func currentResolvers(ctx context.Context, o Options) ([]string, error) {
	b, err := o.FS.ReadFile("/etc/resolv.conf") // macOS keeps it current for the primary service
	if err != nil {
		return nil, err
	}
	return ParseNameservers(b), nil
}
