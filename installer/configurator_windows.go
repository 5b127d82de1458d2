package installer

import (
	"context"
	"errors"
)

func newConfigurator(ctx context.Context, o Options) (Configurator, error) {
	return nil, errors.New("activation on Windows is not built yet")
}

func currentResolvers(ctx context.Context, o Options) ([]string, error) {
	return nil, errors.New("reading Windows DNS servers is not built yet")
}
