//go:build !linux && !darwin && !windows

package activation

import (
	"context"
	"errors"
)

var errUnsupported = errors.New("dnspin cannot change DNS settings on this operating system; point it at 127.0.0.1 by hand")

func newConfigurator(ctx context.Context, o Options) (Configurator, error) {
	return nil, errUnsupported
}

func currentResolvers(ctx context.Context, o Options) ([]string, error) {
	b, err := o.FS.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil, err
	}
	return ParseNameservers(b), nil
}
