// Package winres writes Windows resources (version information and an icon)
// as a COFF object (.syso) that the Go linker puts into a Windows executable.
// It is pure Go and uses only the standard library, so release builds need
// no Windows SDK, rc.exe, windres or extra module. Only the resource
// directory format of the PE/COFF specification is used: one ".rsrc"
// section, one static section symbol, and one ADDR32NB relocation per data
// entry (the linker turns it into the final RVA).
package winres

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Resource type IDs (winuser.h).
const (
	TypeIcon      = 3
	TypeGroupIcon = 14
	TypeVersion   = 16
)

// LangEnUS is the resource language of everything we write (en-US), and
// the code page is Unicode (1200), as rc.exe does by default.
const (
	LangEnUS    = 0x0409
	CodePageU16 = 1200
)

// Machine types of the COFF header (Go's GOARCH names).
var machines = map[string]struct {
	machine uint16
	reloc   uint16 // the ADDR32NB (image-relative) relocation type
}{
	"amd64": {0x8664, 0x0003},
	"arm64": {0xAA64, 0x0002},
	"386":   {0x014C, 0x0007},
}

// Resource is one leaf of the resource tree.
type Resource struct {
	Type, ID, Lang uint16
	Data           []byte
}

// Version is what Explorer shows under Properties > Details.
type Version struct {
	FileVersion    [4]uint16 // numeric, from Numeric()
	ProductVersion [4]uint16
	Strings        map[string]string // CompanyName, FileDescription, FileVersion, ...
}

// Numeric parses the leading "X.Y.Z[.W]" of a version such as "1.2.3-rc1"
// or "v1.2.3"; missing or non-numeric parts are 0 (a development build is
// 0.0.0.0 numerically but keeps its full text in the string table).
func Numeric(v string) [4]uint16 {
	var n [4]uint16
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+~ "); i >= 0 {
		v = v[:i]
	}
	for i, p := range strings.SplitN(v, ".", 4) {
		x, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			break
		}
		n[i] = uint16(x)
	}
	return n
}

// VersionInfo encodes a VS_VERSIONINFO block (the RT_VERSION resource).
func VersionInfo(v Version) []byte {
	fixed := new(bytes.Buffer)
	le := func(x uint32) { binary.Write(fixed, binary.LittleEndian, x) }
	ms := func(a [4]uint16) uint32 { return uint32(a[0])<<16 | uint32(a[1]) }
	ls := func(a [4]uint16) uint32 { return uint32(a[2])<<16 | uint32(a[3]) }
	le(0xFEEF04BD) // signature
	le(0x00010000) // structure version 1.0
	le(ms(v.FileVersion))
	le(ls(v.FileVersion))
	le(ms(v.ProductVersion))
	le(ls(v.ProductVersion))
	le(0x3F)       // flags mask
	le(0)          // flags
	le(0x00040004) // VOS_NT_WINDOWS32
	le(1)          // VFT_APP
	le(0)          // subtype
	le(0)          // date MS
	le(0)          // date LS

	keys := make([]string, 0, len(v.Strings))
	for k := range v.Strings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var strs []node
	for _, k := range keys {
		strs = append(strs, node{key: k, text: true, value: utf16z(v.Strings[k]), valueLen: uint16(len(utf16.Encode([]rune(v.Strings[k]))) + 1)})
	}
	translation := []byte{0, 0, 0, 0}
	binary.LittleEndian.PutUint16(translation[0:], LangEnUS)
	binary.LittleEndian.PutUint16(translation[2:], CodePageU16)
	root := node{
		key:      "VS_VERSION_INFO",
		value:    fixed.Bytes(),
		valueLen: uint16(fixed.Len()),
		children: []node{
			{key: "StringFileInfo", text: true, children: []node{
				{key: fmt.Sprintf("%04X%04X", LangEnUS, CodePageU16), text: true, children: strs},
			}},
			{key: "VarFileInfo", text: true, children: []node{
				{key: "Translation", value: translation, valueLen: 4},
			}},
		},
	}
	return root.encode()
}

// node is one block of a VS_VERSIONINFO tree: every block is
// wLength, wValueLength, wType, szKey, padding, Value, padding, Children,
// with 32-bit alignment counted from the start of the resource.
type node struct {
	key      string
	text     bool   // wType 1 (text) or 0 (binary)
	value    []byte // raw bytes (UTF-16 with NUL for text)
	valueLen uint16 // in bytes for binary, in UTF-16 units for text
	children []node
}

func (n node) encode() []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0}) // wLength, patched below
	binary.Write(&b, binary.LittleEndian, n.valueLen)
	typ := uint16(0)
	if n.text {
		typ = 1
	}
	binary.Write(&b, binary.LittleEndian, typ)
	b.Write(utf16z(n.key))
	pad4(&b)
	b.Write(n.value)
	for _, c := range n.children {
		pad4(&b)
		b.Write(c.encode())
	}
	out := b.Bytes()
	binary.LittleEndian.PutUint16(out, uint16(len(out)))
	return out
}

func pad4(b *bytes.Buffer) {
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}

func utf16z(s string) []byte {
	u := utf16.Encode([]rune(s))
	out := make([]byte, 2*len(u)+2)
	for i, c := range u {
		binary.LittleEndian.PutUint16(out[2*i:], c)
	}
	return out
}

// IconResources turns an .ico file into RT_ICON leaves (IDs first, first+1,
// ...) and one RT_GROUP_ICON leaf with ID group that points at them.
func IconResources(ico []byte, group, first uint16) ([]Resource, error) {
	if len(ico) < 6 || binary.LittleEndian.Uint16(ico[0:]) != 0 || binary.LittleEndian.Uint16(ico[2:]) != 1 {
		return nil, fmt.Errorf("icon: not an .ico file (bad ICONDIR header)")
	}
	count := int(binary.LittleEndian.Uint16(ico[4:]))
	if count == 0 || len(ico) < 6+16*count {
		return nil, fmt.Errorf("icon: .ico file has %d images or is truncated", count)
	}
	var grp bytes.Buffer
	binary.Write(&grp, binary.LittleEndian, [3]uint16{0, 1, uint16(count)})
	var out []Resource
	for i := 0; i < count; i++ {
		e := ico[6+16*i : 6+16*(i+1)]
		size := binary.LittleEndian.Uint32(e[8:])
		off := binary.LittleEndian.Uint32(e[12:])
		if uint64(off)+uint64(size) > uint64(len(ico)) {
			return nil, fmt.Errorf("icon: image %d (offset %d, size %d) lies outside the %d-byte file", i, off, size, len(ico))
		}
		id := first + uint16(i)
		out = append(out, Resource{Type: TypeIcon, ID: id, Lang: LangEnUS, Data: ico[off : off+size]})
		grp.Write(e[:12]) // width, height, colors, reserved, planes, bit count, bytes in res
		binary.Write(&grp, binary.LittleEndian, id)
	}
	out = append(out, Resource{Type: TypeGroupIcon, ID: group, Lang: LangEnUS, Data: grp.Bytes()})
	return out, nil
}

// COFF writes the resources as a COFF object for goarch ("amd64", "arm64",
// "386"), ready to be saved as rsrc_windows_<goarch>.syso.
func COFF(goarch string, res []Resource) ([]byte, error) {
	m, ok := machines[goarch]
	if !ok {
		return nil, fmt.Errorf("winres: no COFF machine type for GOARCH %q (want amd64, arm64 or 386)", goarch)
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("winres: no resources to write")
	}
	res = append([]Resource(nil), res...)
	sort.Slice(res, func(i, j int) bool {
		a, b := res[i], res[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Lang < b.Lang
	})
	for i := 1; i < len(res); i++ {
		if res[i].Type == res[i-1].Type && res[i].ID == res[i-1].ID && res[i].Lang == res[i-1].Lang {
			return nil, fmt.Errorf("winres: resource type %d id %d lang %#x given twice", res[i].Type, res[i].ID, res[i].Lang)
		}
	}

	// Group leaves: type -> id -> langs.
	type idGroup struct {
		id     uint16
		leaves []int
	}
	type typeGroup struct {
		typ uint16
		ids []idGroup
	}
	var types []typeGroup
	for i, r := range res {
		if len(types) == 0 || types[len(types)-1].typ != r.Type {
			types = append(types, typeGroup{typ: r.Type})
		}
		t := &types[len(types)-1]
		if len(t.ids) == 0 || t.ids[len(t.ids)-1].id != r.ID {
			t.ids = append(t.ids, idGroup{id: r.ID})
		}
		g := &t.ids[len(t.ids)-1]
		g.leaves = append(g.leaves, i)
	}

	// Layout: all directory tables first (root, type level, id level),
	// then the data entries, then the data, each blob 8-byte aligned.
	dirSize := func(n int) uint32 { return 16 + 8*uint32(n) }
	off := dirSize(len(types))
	typeOff := make([]uint32, len(types))
	for i, t := range types {
		typeOff[i] = off
		off += dirSize(len(t.ids))
	}
	idOff := make([][]uint32, len(types))
	for i, t := range types {
		for _, g := range t.ids {
			idOff[i] = append(idOff[i], off)
			off += dirSize(len(g.leaves))
		}
	}
	entryOff := make([]uint32, len(res))
	for i := range res {
		entryOff[i] = off
		off += 16
	}
	dataOff := make([]uint32, len(res))
	for i, r := range res {
		off = (off + 7) &^ 7
		dataOff[i] = off
		off += uint32(len(r.Data))
	}
	sect := make([]byte, (off+7)&^7)
	put32 := func(at, v uint32) { binary.LittleEndian.PutUint32(sect[at:], v) }
	dir := func(at uint32, n int) {
		// Characteristics, time stamp, version are 0; all entries are IDs.
		binary.LittleEndian.PutUint16(sect[at+14:], uint16(n))
	}
	const subdir = 0x80000000
	dir(0, len(types))
	for i, t := range types {
		put32(16+8*uint32(i), uint32(t.typ))
		put32(16+8*uint32(i)+4, subdir|typeOff[i])
		dir(typeOff[i], len(t.ids))
		for j, g := range t.ids {
			e := typeOff[i] + 16 + 8*uint32(j)
			put32(e, uint32(g.id))
			put32(e+4, subdir|idOff[i][j])
			dir(idOff[i][j], len(g.leaves))
			for k, li := range g.leaves {
				e := idOff[i][j] + 16 + 8*uint32(k)
				put32(e, uint32(res[li].Lang))
				put32(e+4, entryOff[li]) // high bit clear: a data entry
			}
		}
	}
	for i, r := range res {
		put32(entryOff[i], dataOff[i]) // section offset; the relocation adds the section's RVA
		put32(entryOff[i]+4, uint32(len(r.Data)))
		copy(sect[dataOff[i]:], r.Data)
	}

	// COFF file: header, one section header, raw data, relocations,
	// symbol table (one static section symbol), string table (empty).
	const hdr, shdr = 20, 40
	rawOff := uint32(hdr + shdr)
	relOff := rawOff + uint32(len(sect))
	symOff := relOff + 10*uint32(len(res))
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	w(m.machine)
	w(uint16(1)) // sections
	w(uint32(0)) // time stamp: 0 keeps builds reproducible
	w(symOff)
	w(uint32(1)) // symbols
	w(uint16(0)) // optional header size
	w(uint16(0)) // characteristics
	b.WriteString(".rsrc\x00\x00\x00")
	w(uint32(0)) // virtual size
	w(uint32(0)) // virtual address
	w(uint32(len(sect)))
	w(rawOff)
	w(relOff)
	w(uint32(0)) // line numbers
	w(uint16(len(res)))
	w(uint16(0))
	w(uint32(0x40000040)) // IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ
	b.Write(sect)
	for i := range res {
		w(entryOff[i]) // where the RVA field is
		w(uint32(0))   // symbol 0: .rsrc
		w(m.reloc)
	}
	b.WriteString(".rsrc\x00\x00\x00")
	w(uint32(0)) // value
	w(uint16(1)) // section number
	w(uint16(0)) // type
	b.WriteByte(3)
	b.WriteByte(0)
	w(uint32(4)) // string table: just its size
	return b.Bytes(), nil
}
