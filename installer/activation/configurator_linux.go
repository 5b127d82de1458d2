package activation

import "context"

// The logic lives in linux.go and linux_*.go (no build tags, tested on
// every OS); this file only hands it the real seams.

func newConfigurator(ctx context.Context, o Options) (Configurator, error) {
	c, err := newLinuxConfigurator(o)
	if err != nil {
		return nil, err // not a nil *linuxConfigurator in an interface
	}
	return c, nil
}

func currentResolvers(ctx context.Context, o Options) ([]string, error) {
	return linuxResolvers(o)
}
