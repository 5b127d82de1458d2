package installer

import (
	"context"
	"errors"
)

func newConfigurator(ctx context.Context, o Options) (Configurator, error) {
	return nil, errors.New("activation on macOS is not built yet")
}

func currentResolvers(ctx context.Context, o Options) ([]string, error) {
	b, err := o.FS.ReadFile("/etc/resolv.conf") // macOS keeps it current for the primary service
	if err != nil {
		return nil, err
	}
	return ParseNameservers(b), nil
}
