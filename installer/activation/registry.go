package activation

import (
	"errors"
	"fmt"
	"strings"
)

// Registry is the Windows registry seam, rooted at HKEY_LOCAL_MACHINE: key
// paths are relative to it ("SYSTEM\CurrentControlSet\..."). The real one
// (registry_windows.go) uses golang.org/x/sys/windows/registry; tests use an
// in-memory map and record every write in a golden wmTranscript, so the Windows
// activation logic is tested on any OS.
type Registry interface {
	// GetValue returns the value name under key; ok is false when the key
	// or the value does not exist.
	GetValue(key, name string) (v RegValue, ok bool, err error)
	// SetValue creates key if needed and sets the value.
	SetValue(key, name string, v RegValue) error
	// DeleteValue removes a value; a missing key or value is not an error.
	DeleteValue(key, name string) error
	// SubKeys lists the direct subkeys of key; nil when it does not exist.
	SubKeys(key string) ([]string, error)
	// KeyExists reports whether key exists.
	KeyExists(key string) (bool, error)
	// DeleteKey removes key (it must have no subkeys) with its values; a
	// missing key is not an error.
	DeleteKey(key string) error
}

// Registry value types, as Windows numbers them (winnt.h).
const (
	RegSZ       uint32 = 1
	RegExpandSZ uint32 = 2
	RegBinary   uint32 = 3
	RegDWord    uint32 = 4
	RegMultiSZ  uint32 = 7
	RegQWord    uint32 = 11
)

// RegValue is one typed registry value. Exactly the field matching Type is
// used, so a value read and written back is unchanged (a REG_SZ stays a
// REG_SZ, an empty string stays an empty string).
type RegValue struct {
	Type    uint32   `json:"type"`
	String  string   `json:"string,omitempty"`  // RegSZ, RegExpandSZ
	Strings []string `json:"strings,omitempty"` // RegMultiSZ
	Integer uint64   `json:"integer,omitempty"` // RegDWord, RegQWord
	Binary  []byte   `json:"binary,omitempty"`  // RegBinary
}

// SZ, MultiSZ and DWord build values.
func SZ(s string) RegValue         { return RegValue{Type: RegSZ, String: s} }
func MultiSZ(s ...string) RegValue { return RegValue{Type: RegMultiSZ, Strings: s} }
func DWord(d uint32) RegValue      { return RegValue{Type: RegDWord, Integer: uint64(d)} }
func regTypeName(t uint32) string {
	return map[uint32]string{1: "REG_SZ", 2: "REG_EXPAND_SZ", 3: "REG_BINARY", 4: "REG_DWORD", 7: "REG_MULTI_SZ", 11: "REG_QWORD"}[t]
}
func (v RegValue) isString() bool    { return v.Type == RegSZ || v.Type == RegExpandSZ }
func (v RegValue) isInteger() bool   { return v.Type == RegDWord || v.Type == RegQWord }
func (v RegValue) isMulti() bool     { return v.Type == RegMultiSZ }
func (v RegValue) isBinary() bool    { return v.Type == RegBinary }
func (v RegValue) isKnownType() bool { return regTypeName(v.Type) != "" }

// String renders the value the way `reg query` would, for transcripts and reports.
func (v RegValue) GoString() string {
	switch {
	case v.isString():
		return fmt.Sprintf("%s %q", regTypeName(v.Type), v.String)
	case v.isMulti():
		q := make([]string, len(v.Strings))
		for i, s := range v.Strings {
			q[i] = fmt.Sprintf("%q", s)
		}
		return fmt.Sprintf("%s [%s]", regTypeName(v.Type), strings.Join(q, " "))
	case v.isInteger():
		return fmt.Sprintf("%s 0x%x", regTypeName(v.Type), v.Integer)
	case v.isBinary():
		return fmt.Sprintf("%s %x", regTypeName(v.Type), v.Binary)
	}
	return fmt.Sprintf("type %d", v.Type)
}

// Equal reports whether two values have the same type and content.
func (v RegValue) Equal(w RegValue) bool {
	return v.GoString() == w.GoString()
}

var errRegType = errors.New("unsupported registry value type")

// HKLM prefixes key paths in messages so a reader can find them in regedit.
func HKLM(key string) string { return `HKLM\` + key }
