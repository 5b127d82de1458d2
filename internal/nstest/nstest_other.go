//go:build !linux

package nstest

import (
	"errors"
	"io/fs"
	"syscall"
)

func cloneAttr(Options) *syscall.SysProcAttr { return nil }

func setup(o Options) (*Env, error) {
	return nil, errors.Join(errors.New("namespaces need Linux"), fs.ErrPermission)
}

func overlay(scratchDir, dir string) error { return errors.New("overlays need Linux") }
