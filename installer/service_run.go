package installer

import (
	"context"
	"runtime"
)

// RunService runs run as the OS service until the service manager stops it.
//
// Only the Windows service control manager needs a handshake
// (runWindowsService); systemd, SysV and launchd simply start the process
// and stop it with SIGTERM, which the caller's ctx already carries, so run
// is called directly. If run fails on its own under Windows, exit(1) ends the
// process so the service manager's recovery actions restart it.
func RunService(ctx context.Context, _ ServiceSpec, run func(ctx context.Context) error, exit func(code int)) error {
	if runtime.GOOS != "windows" {
		return run(ctx)
	}
	p := &serviceProgram{run: run, parent: ctx, done: make(chan error, 1), exit: exit}
	return runWindowsService(ctx, p)
}

// serviceProgram adapts a blocking run function to the SCM's start and stop.
type serviceProgram struct {
	run    func(ctx context.Context) error
	parent context.Context
	cancel context.CancelFunc
	done   chan error
	err    error
	exit   func(code int)
}

func (p *serviceProgram) Start() error {
	ctx, cancel := context.WithCancel(p.parent)
	p.cancel = cancel
	go func() {
		err := p.run(ctx)
		if ctx.Err() == nil { // not asked to stop: a failure
			p.exit(1)
		}
		p.done <- err
	}()
	return nil
}

func (p *serviceProgram) Stop() error {
	p.cancel()
	p.err = <-p.done
	return nil
}
