package installer

import (
	"errors"
	"fmt"
	"github.com/dnspin/dnspin/installer/activation"
	"io/fs"
	"runtime"
	"strings"
	"syscall"

	"github.com/kardianos/service"
)

// kardianosService is the real ServiceManager.
type kardianosService struct {
	s    service.Service
	fsys activation.FS
}

// installOnly is the program kardianos needs to build a Service; install and
// uninstall never run it.
type installOnly struct{}

func (installOnly) Start(service.Service) error { return nil }
func (installOnly) Stop(service.Service) error  { return nil }

// NewKardianosService is the ServiceFactory for this OS, using
// github.com/kardianos/service (systemd, SysV, launchd, Windows SCM). fsys
// is used to remove what kardianos leaves behind (SysV rc links).
func NewKardianosService(fsys activation.FS) ServiceFactory {
	return func(spec ServiceSpec) (ServiceManager, error) {
		s, err := service.New(installOnly{}, ServiceConfig(spec, runtime.GOOS))
		if err != nil {
			return nil, err
		}
		return &kardianosService{s: s, fsys: fsys}, nil
	}
}

func (k *kardianosService) Install() error { return k.s.Install() }

// errServiceAlreadyRunning is Windows' ERROR_SERVICE_ALREADY_RUNNING (1056),
// spelled as a number so this file builds on every OS.
const errServiceAlreadyRunning = syscall.Errno(1056)

func (k *kardianosService) Start() error {
	err := k.s.Start()
	if runtime.GOOS == "windows" && errors.Is(err, errServiceAlreadyRunning) {
		return fmt.Errorf("%w: %w", ErrServiceRunning, err)
	}
	return err
}
func (k *kardianosService) Stop() error      { return k.s.Stop() }
func (k *kardianosService) Platform() string { return k.s.Platform() }

func (k *kardianosService) Uninstall() error {
	defer k.removeSysvLinks()
	// A service file removed by hand: kardianos would fail (systemctl
	// disable of a unit that is gone), but there is nothing left to do.
	if p := ServiceFilePath(runtime.GOOS, k.s.Platform()); p != "" {
		if _, err := k.fsys.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return ErrServiceNotInstalled
		}
	}
	err := k.s.Uninstall()
	if runtime.GOOS == "windows" && err != nil && strings.Contains(err.Error(), "RemoveEventLogSource") {
		// kardianos deletes the service, then the event-log source its
		// Install made. A service registered by someone else (the MSI of
		// an earlier dnspin) has none: the service is gone, which is all
		// uninstall needs.
		return nil
	}
	if errors.Is(err, service.ErrNotInstalled) || errors.Is(err, fs.ErrNotExist) ||
		(err != nil && strings.HasSuffix(err.Error(), "is not installed")) { // Windows SCM, unwrapped
		return ErrServiceNotInstalled
	}
	return err
}

// removeSysvLinks removes the rc links kardianos creates for SysV and does
// not remove itself.
func (k *kardianosService) removeSysvLinks() {
	if k.s.Platform() != "unix-systemv" {
		return
	}
	for _, l := range sysvLinks() {
		if t, err := k.fsys.Readlink(l); err == nil && t == "/etc/init.d/"+ServiceName {
			_ = k.fsys.Remove(l)
		}
	}
}
