//go:build !windows

package installer

import "context"

// runWindowsService is only called on Windows.
func runWindowsService(ctx context.Context, p *serviceProgram) error { return p.run(ctx) }
