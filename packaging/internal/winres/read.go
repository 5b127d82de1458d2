package winres

import (
	"debug/pe"
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// ReadPE returns the resources linked into a Windows executable: it walks
// the resource directory the way Windows does, through the image's
// resource data directory and the RVAs the linker relocated. Tests and the
// release check use it to prove a built .exe really carries them.
func ReadPE(path string) ([]Resource, error) {
	f, err := pe.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	var dd pe.DataDirectory
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		dd = oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_RESOURCE]
	case *pe.OptionalHeader32:
		dd = oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_RESOURCE]
	default:
		return nil, fmt.Errorf("%s: no optional header (not an executable)", path)
	}
	if dd.VirtualAddress == 0 || dd.Size == 0 {
		return nil, fmt.Errorf("%s: has no resources (was the .syso linked?)", path)
	}
	var sect *pe.Section
	for _, s := range f.Sections {
		if dd.VirtualAddress >= s.VirtualAddress && dd.VirtualAddress < s.VirtualAddress+s.VirtualSize {
			sect = s
		}
	}
	if sect == nil {
		return nil, fmt.Errorf("%s: resource directory RVA %#x is in no section", path, dd.VirtualAddress)
	}
	data, err := sect.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: section %s: %w", path, sect.Name, err)
	}
	base := dd.VirtualAddress - sect.VirtualAddress
	if int(base) >= len(data) {
		return nil, fmt.Errorf("%s: resource directory outside section %s", path, sect.Name)
	}
	rd := data[base:]
	u16 := func(at uint32) (uint16, error) {
		if int(at)+2 > len(rd) {
			return 0, fmt.Errorf("%s: resource directory truncated at %#x", path, at)
		}
		return binary.LittleEndian.Uint16(rd[at:]), nil
	}
	u32 := func(at uint32) (uint32, error) {
		if int(at)+4 > len(rd) {
			return 0, fmt.Errorf("%s: resource directory truncated at %#x", path, at)
		}
		return binary.LittleEndian.Uint32(rd[at:]), nil
	}
	// entries returns (id, offset, isDir) of one directory table.
	type entry struct {
		id    uint32
		off   uint32
		isDir bool
	}
	entries := func(at uint32) ([]entry, error) {
		named, err := u16(at + 12)
		if err != nil {
			return nil, err
		}
		ids, err := u16(at + 14)
		if err != nil {
			return nil, err
		}
		var out []entry
		for i := uint32(0); i < uint32(named)+uint32(ids); i++ {
			id, err := u32(at + 16 + 8*i)
			if err != nil {
				return nil, err
			}
			off, err := u32(at + 20 + 8*i)
			if err != nil {
				return nil, err
			}
			out = append(out, entry{id: id, off: off &^ 0x80000000, isDir: off&0x80000000 != 0})
		}
		return out, nil
	}
	var out []Resource
	types, err := entries(0)
	if err != nil {
		return nil, err
	}
	for _, t := range types {
		if !t.isDir {
			return nil, fmt.Errorf("%s: resource type %d is not a directory", path, t.id)
		}
		ids, err := entries(t.off)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			langs, err := entries(id.off)
			if err != nil {
				return nil, err
			}
			for _, l := range langs {
				rva, err := u32(l.off)
				if err != nil {
					return nil, err
				}
				size, err := u32(l.off + 4)
				if err != nil {
					return nil, err
				}
				at := rva - sect.VirtualAddress
				if rva < sect.VirtualAddress || uint64(at)+uint64(size) > uint64(len(data)) {
					return nil, fmt.Errorf("%s: resource %d/%d data at RVA %#x (+%d) is outside %s", path, t.id, id.id, rva, size, sect.Name)
				}
				out = append(out, Resource{Type: uint16(t.id), ID: uint16(id.id), Lang: uint16(l.id), Data: data[at : at+size]})
			}
		}
	}
	return out, nil
}

// ParseVersionInfo decodes an RT_VERSION resource: the fixed file and
// product versions and the strings of its first string table.
func ParseVersionInfo(b []byte) (Version, error) {
	var v Version
	root, err := parseNode(b)
	if err != nil {
		return v, err
	}
	if root.key != "VS_VERSION_INFO" || len(root.value) < 52 || binary.LittleEndian.Uint32(root.value) != 0xFEEF04BD {
		return v, fmt.Errorf("version info: not a VS_VERSION_INFO block (key %q)", root.key)
	}
	split := func(ms, ls uint32) [4]uint16 {
		return [4]uint16{uint16(ms >> 16), uint16(ms), uint16(ls >> 16), uint16(ls)}
	}
	le := binary.LittleEndian
	v.FileVersion = split(le.Uint32(root.value[8:]), le.Uint32(root.value[12:]))
	v.ProductVersion = split(le.Uint32(root.value[16:]), le.Uint32(root.value[20:]))
	v.Strings = map[string]string{}
	for _, c := range root.children {
		if c.key != "StringFileInfo" || len(c.children) == 0 {
			continue
		}
		for _, s := range c.children[0].children {
			v.Strings[s.key] = decodeUTF16z(s.value)
		}
	}
	return v, nil
}

func parseNode(b []byte) (node, error) {
	var n node
	if len(b) < 6 {
		return n, fmt.Errorf("version info: block of %d bytes is too short", len(b))
	}
	le := binary.LittleEndian
	total := int(le.Uint16(b))
	if total > len(b) || total < 6 {
		return n, fmt.Errorf("version info: block length %d does not fit in %d bytes", total, len(b))
	}
	b = b[:total]
	n.valueLen = le.Uint16(b[2:])
	n.text = le.Uint16(b[4:]) == 1
	p := 6
	for p+1 < len(b) && (b[p] != 0 || b[p+1] != 0) {
		p += 2
	}
	n.key = decodeUTF16z(b[6:p])
	p = align4(p + 2)
	vlen := int(n.valueLen)
	if n.text {
		vlen *= 2
	}
	if p+vlen > len(b) {
		vlen = len(b) - min(p, len(b))
	}
	if p < len(b) {
		n.value = b[p : p+vlen]
	}
	p = align4(p + vlen)
	for p < len(b) {
		c, err := parseNode(b[p:])
		if err != nil {
			return n, err
		}
		n.children = append(n.children, c)
		p = align4(p + int(le.Uint16(b[p:])))
	}
	return n, nil
}

func align4(p int) int { return (p + 3) &^ 3 }

func decodeUTF16z(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}
