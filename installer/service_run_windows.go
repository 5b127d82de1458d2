package installer

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
)

// runWindowsService talks to the service control manager itself instead of
// asking whether the process is a service first: `run --service` is only
// ever how the SCM starts dnspin, and svc.IsWindowsService (which
// kardianos/service relies on) answers false under Wine, whose service
// processes are not children of services.exe; the SCM then timed out
// waiting for a handshake that never came ("Service request timeout").
// Started from a console instead, StartServiceCtrlDispatcher fails at once
// with ERROR_FAILED_SERVICE_CONTROLLER_CONNECT and run runs in the
// foreground.
func runWindowsService(ctx context.Context, p *serviceProgram) error {
	err := svc.Run(ServiceName, &scmHandler{p: p})
	if errors.Is(err, windows.ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
		return p.run(ctx)
	}
	if err != nil {
		return fmt.Errorf("service %s: %w", ServiceName, err)
	}
	return p.err
}

// scmHandler reports start, running and stop to the SCM around p.
type scmHandler struct{ p *serviceProgram }

func (h *scmHandler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	if err := h.p.Start(); err != nil {
		return false, 1
	}
	running := svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	status <- running
	for c := range req {
		switch c.Cmd {
		case svc.Interrogate:
			status <- c.CurrentStatus
		case svc.Stop, svc.Shutdown:
			status <- svc.Status{State: svc.StopPending}
			_ = h.p.Stop()
			return false, 0
		}
	}
	return false, 0
}
