// Package iconart draws dnspin's tray icons: a coloured shield with a glyph
// that tells the states apart without colour (tick, exclamation mark,
// cross, dash), antialiased by supersampling, written as PNG and as a
// multi-size Windows ICO. It is used by tray/gen_icons.go (go generate) and
// by the test that checks the embedded files are up to date.
package iconart

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"math"
)

// Glyph is the mark drawn on the shield.
type Glyph int

// Glyphs, one per tray state.
const (
	Tick Glyph = iota
	Exclamation
	Cross
	Dash
)

// Style is one icon's look.
type Style struct {
	Fill, Border, Mark color.NRGBA
	Glyph              Glyph
}

// Styles are the four tray icons by name; the names are the file names.
func Styles() map[string]Style {
	return map[string]Style{
		"green": {Fill: rgb(0x2e, 0x9d, 0x49), Border: rgb(0x1b, 0x63, 0x2d), Mark: rgb(0xff, 0xff, 0xff), Glyph: Tick},
		"amber": {Fill: rgb(0xf5, 0xb0, 0x00), Border: rgb(0x9c, 0x6a, 0x00), Mark: rgb(0x33, 0x24, 0x00), Glyph: Exclamation},
		"red":   {Fill: rgb(0xd9, 0x30, 0x25), Border: rgb(0x87, 0x1a, 0x13), Mark: rgb(0xff, 0xff, 0xff), Glyph: Cross},
		"grey":  {Fill: rgb(0x92, 0x97, 0x9e), Border: rgb(0x55, 0x5a, 0x61), Mark: rgb(0xff, 0xff, 0xff), Glyph: Dash},
	}
}

// ICOSizes are the sizes in the Windows icon: 100 % to 200 % display
// scaling of the 16-pixel notification area icon, plus larger ones for
// Explorer.
var icoSizes = [...]int{16, 20, 24, 32, 48, 64}

// ICOSizes returns the sizes the ICO file holds.
func ICOSizes() []int { return icoSizes[:] }

func rgb(r, g, b uint8) color.NRGBA { return color.NRGBA{r, g, b, 0xff} }

const supersample = 5

// Draw renders the icon at size×size pixels.
func Draw(st Style, size int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	border := math.Max(1.0/float64(size), 0.055) // at least one pixel
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, a float64
			for sy := 0; sy < supersample; sy++ {
				for sx := 0; sx < supersample; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/supersample) / float64(size)
					y := (float64(py) + (float64(sy)+0.5)/supersample) / float64(size)
					var c color.NRGBA
					switch {
					case !inShield(x, y, 0):
						continue
					case !inShield(x, y, border):
						c = st.Border
					case onGlyph(st.Glyph, x, y):
						c = st.Mark
					default:
						c = st.Fill
					}
					r += float64(c.R)
					g += float64(c.G)
					b += float64(c.B)
					a++
				}
			}
			if a == 0 {
				continue
			}
			n := float64(supersample * supersample)
			img.SetNRGBA(px, py, color.NRGBA{
				R: uint8(math.Round(r / a)), G: uint8(math.Round(g / a)), B: uint8(math.Round(b / a)),
				A: uint8(math.Round(255 * a / n)),
			})
		}
	}
	return img
}

// inShield reports whether (x, y), in unit coordinates with y downwards, is
// inside the shield shrunk by inset on every side.
func inShield(x, y, inset float64) bool {
	const (
		top, shoulder, tip = 0.06, 0.52, 0.96
		half               = 0.40
		corner             = 0.10
	)
	dx := math.Abs(x - 0.5)
	if y < top+inset || y > tip-inset*1.6 {
		return false
	}
	var w float64
	if y <= shoulder {
		w = half
		// Rounded top corners.
		if cy := top + corner; y < cy && dx > half-corner {
			ex, ey := dx-(half-corner), cy-y
			return math.Hypot(ex, ey) <= corner-inset
		}
	} else {
		t := (y - shoulder) / (tip - shoulder)
		w = half * math.Pow(math.Cos(t*math.Pi/2), 0.75)
	}
	return dx <= w-inset
}

func onGlyph(g Glyph, x, y float64) bool {
	const w = 0.075 // half stroke width
	switch g {
	case Tick:
		return segment(x, y, 0.30, 0.47, 0.45, 0.62, w) || segment(x, y, 0.45, 0.62, 0.71, 0.31, w)
	case Exclamation:
		return segment(x, y, 0.5, 0.24, 0.5, 0.52, w) || math.Hypot(x-0.5, y-0.69) <= w*1.1
	case Cross:
		return segment(x, y, 0.35, 0.29, 0.65, 0.61, w) || segment(x, y, 0.65, 0.29, 0.35, 0.61, w)
	case Dash:
		return segment(x, y, 0.32, 0.45, 0.68, 0.45, w)
	}
	return false
}

// segment reports whether (x, y) is within w of the segment (ax,ay)-(bx,by)
// (round caps).
func segment(x, y, ax, ay, bx, by, w float64) bool {
	vx, vy := bx-ax, by-ay
	t := ((x-ax)*vx + (y-ay)*vy) / (vx*vx + vy*vy)
	t = math.Max(0, math.Min(1, t))
	return math.Hypot(x-(ax+t*vx), y-(ay+t*vy)) <= w
}

// PNG encodes the icon at one size.
func PNG(st Style, size int) []byte {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, Draw(st, size)); err != nil {
		panic(err) // only fails on writer errors; bytes.Buffer has none
	}
	return buf.Bytes()
}

// ICO encodes the icon at every ICOSizes size as 32-bit BMP entries (with
// alpha), which every Windows version since XP reads, including
// LoadImage(LR_LOADFROMFILE) that the systray library uses.
func ICO(st Style) []byte {
	var entries [][]byte
	for _, s := range icoSizes {
		entries = append(entries, bmpEntry(Draw(st, s)))
	}
	var buf bytes.Buffer
	le := binary.LittleEndian
	w16 := func(v int) { buf.Write(le.AppendUint16(nil, uint16(v))) }
	w32 := func(v int) { buf.Write(le.AppendUint32(nil, uint32(v))) }
	w16(0) // reserved
	w16(1) // type: icon
	w16(len(entries))
	off := 6 + 16*len(entries)
	for i, e := range entries {
		s := icoSizes[i]
		buf.WriteByte(byte(s)) // width (0 would mean 256)
		buf.WriteByte(byte(s))
		buf.WriteByte(0) // palette colours
		buf.WriteByte(0) // reserved
		w16(1)           // colour planes
		w16(32)          // bits per pixel
		w32(len(e))
		w32(off)
		off += len(e)
	}
	for _, e := range entries {
		buf.Write(e)
	}
	return buf.Bytes()
}

// bmpEntry is a BITMAPINFOHEADER, bottom-up BGRA rows, and the 1-bit AND
// mask (all zero: the alpha channel decides transparency).
func bmpEntry(img *image.NRGBA) []byte {
	s := img.Bounds().Dx()
	maskRow := ((s + 31) / 32) * 4
	var buf bytes.Buffer
	le := binary.LittleEndian
	w16 := func(v int) { buf.Write(le.AppendUint16(nil, uint16(v))) }
	w32 := func(v int) { buf.Write(le.AppendUint32(nil, uint32(v))) }
	w32(40)    // header size
	w32(s)     // width
	w32(2 * s) // height of XOR + AND bitmaps
	w16(1)     // planes
	w16(32)    // bits per pixel
	w32(0)     // BI_RGB
	w32(s*s*4 + maskRow*s)
	w32(0)
	w32(0)
	w32(0)
	w32(0)
	for y := s - 1; y >= 0; y-- {
		for x := 0; x < s; x++ {
			c := img.NRGBAAt(x, y)
			buf.Write([]byte{c.B, c.G, c.R, c.A})
		}
	}
	buf.Write(make([]byte, maskRow*s))
	return buf.Bytes()
}

// PNGSize is the size of the PNG icon. Linux panels scale it down to their
// height (typically 16–32 px); 64 px keeps it sharp on high-DPI panels.
const PNGSize = 64
