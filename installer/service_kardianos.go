package installer

import (
	"errors"
	"io/fs"
	"runtime"

	"github.com/kardianos/service"
)

// kardianosService is the real ServiceManager.
type kardianosService struct {
	s    service.Service
	fsys FS
}

// installOnly is the program kardianos needs to build a Service; install and
// uninstall never run it.
type installOnly struct{}

func (installOnly) Start(service.Service) error { return nil }
func (installOnly) Stop(service.Service) error  { return nil }

// NewKardianosService is the ServiceFactory for this OS, using
// github.com/kardianos/service (systemd, SysV, launchd, Windows SCM). fsys
// is used to remove what kardianos leaves behind (SysV rc links).
func NewKardianosService(fsys FS) ServiceFactory {
	return func(spec ServiceSpec) (ServiceManager, error) {
		s, err := service.New(installOnly{}, ServiceConfig(spec, runtime.GOOS))
		if err != nil {
			return nil, err
		}
		return &kardianosService{s: s, fsys: fsys}, nil
	}
}

func (k *kardianosService) Install() error   { return k.s.Install() }
func (k *kardianosService) Start() error     { return k.s.Start() }
func (k *kardianosService) Stop() error      { return k.s.Stop() }
func (k *kardianosService) Platform() string { return k.s.Platform() }

func (k *kardianosService) Uninstall() error {
	err := k.s.Uninstall()
	if k.s.Platform() == "unix-systemv" {
		for _, l := range sysvLinks() {
			if t, lerr := k.fsys.Readlink(l); lerr == nil && t == "/etc/init.d/"+ServiceName {
				_ = k.fsys.Remove(l)
			}
		}
	}
	if errors.Is(err, service.ErrNotInstalled) || errors.Is(err, fs.ErrNotExist) {
		return ErrServiceNotInstalled
	}
	return err
}
