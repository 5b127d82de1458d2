package activation

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// WinRegistry is the real HKEY_LOCAL_MACHINE.
type WinRegistry struct{}

var _ Registry = WinRegistry{}

func (WinRegistry) GetValue(key, name string) (RegValue, bool, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return RegValue{}, false, nil
	}
	if err != nil {
		return RegValue{}, false, fmt.Errorf("registry %s: %w", HKLM(key), err)
	}
	defer k.Close()
	_, typ, err := k.GetValue(name, nil)
	if errors.Is(err, registry.ErrNotExist) {
		return RegValue{}, false, nil
	}
	if err != nil {
		return RegValue{}, false, fmt.Errorf("registry %s\\%s: %w", HKLM(key), name, err)
	}
	v := RegValue{Type: typ}
	switch typ {
	case registry.SZ, registry.EXPAND_SZ:
		v.String, _, err = k.GetStringValue(name)
	case registry.MULTI_SZ:
		v.Strings, _, err = k.GetStringsValue(name)
	case registry.DWORD, registry.QWORD:
		v.Integer, _, err = k.GetIntegerValue(name)
	case registry.BINARY:
		v.Binary, _, err = k.GetBinaryValue(name)
	default:
		return RegValue{}, false, fmt.Errorf("registry %s\\%s: %w %d", HKLM(key), name, errRegType, typ)
	}
	if err != nil {
		return RegValue{}, false, fmt.Errorf("registry %s\\%s: %w", HKLM(key), name, err)
	}
	return v, true, nil
}

func (WinRegistry) SetValue(key, name string, v RegValue) error {
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, key, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("registry %s: %w (run as Administrator)", HKLM(key), err)
	}
	defer k.Close()
	switch v.Type {
	case registry.SZ:
		err = k.SetStringValue(name, v.String)
	case registry.EXPAND_SZ:
		err = k.SetExpandStringValue(name, v.String)
	case registry.MULTI_SZ:
		err = k.SetStringsValue(name, v.Strings)
	case registry.DWORD:
		err = k.SetDWordValue(name, uint32(v.Integer))
	case registry.QWORD:
		err = k.SetQWordValue(name, v.Integer)
	case registry.BINARY:
		err = k.SetBinaryValue(name, v.Binary)
	default:
		err = fmt.Errorf("%w %d", errRegType, v.Type)
	}
	if err != nil {
		return fmt.Errorf("registry %s\\%s: %w", HKLM(key), name, err)
	}
	return nil
}

func (WinRegistry) DeleteValue(key, name string) error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.SET_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("registry %s: %w", HKLM(key), err)
	}
	defer k.Close()
	if err := k.DeleteValue(name); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return fmt.Errorf("registry %s\\%s: %w", HKLM(key), name, err)
	}
	return nil
}

func (WinRegistry) SubKeys(key string) ([]string, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.ENUMERATE_SUB_KEYS)
	if errors.Is(err, registry.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", HKLM(key), err)
	}
	defer k.Close()
	names, err := k.ReadSubKeyNames(-1)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", HKLM(key), err)
	}
	return names, nil
}

func (WinRegistry) KeyExists(key string) (bool, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("registry %s: %w", HKLM(key), err)
	}
	k.Close()
	return true, nil
}

func (WinRegistry) DeleteKey(key string) error {
	if err := registry.DeleteKey(registry.LOCAL_MACHINE, key); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return fmt.Errorf("registry %s: %w", HKLM(key), err)
	}
	return nil
}

// SystemRegistry is this machine's HKLM (the tray's Run value).
func SystemRegistry() Registry { return WinRegistry{} }
