package winres

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"math"
)

// IconSizes are the square sizes in the generated icon: what Explorer, the
// taskbar, the notification area and "Programs and Features" ask for.
var IconSizes = []int{16, 24, 32, 48, 64, 256}

// Icon draws dnspin's program icon and returns it as an .ico file with one
// PNG image per size (PNG entries are valid in .ico since Windows Vista).
// It is drawn, not checked in, so there is no binary blob to keep in sync:
// a teal disc with a white ring and centre dot, a "pinned" target.
func Icon() []byte {
	var pngs [][]byte
	for _, s := range IconSizes {
		var b bytes.Buffer
		if err := png.Encode(&b, drawIcon(s)); err != nil {
			panic(err) // cannot happen for an in-memory RGBA image
		}
		pngs = append(pngs, b.Bytes())
	}
	var ico bytes.Buffer
	w := func(v any) { binary.Write(&ico, binary.LittleEndian, v) }
	w([3]uint16{0, 1, uint16(len(pngs))})
	off := uint32(6 + 16*len(pngs))
	for i, p := range pngs {
		dim := byte(IconSizes[i])
		if IconSizes[i] >= 256 {
			dim = 0 // 0 means 256 in ICONDIRENTRY
		}
		ico.Write([]byte{dim, dim, 0, 0})
		w(uint16(1))  // planes
		w(uint16(32)) // bits per pixel
		w(uint32(len(p)))
		w(off)
		off += uint32(len(p))
	}
	for _, p := range pngs {
		ico.Write(p)
	}
	return ico.Bytes()
}

// drawIcon renders one size with 4x4 supersampling for smooth edges.
func drawIcon(size int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	teal := color.RGBA{0x0b, 0x7a, 0x75, 0xff}
	white := color.RGBA{0xff, 0xff, 0xff, 0xff}
	const ss = 4
	c := float64(size) / 2
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			var r, g, b, a float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					px := float64(x) + (float64(sx)+0.5)/ss
					py := float64(y) + (float64(sy)+0.5)/ss
					d := math.Hypot(px-c, py-c) / c // 0 at centre, 1 at the edge
					var col color.RGBA
					switch {
					case d > 0.97:
						continue // transparent
					case d > 0.50 && d < 0.66, d < 0.22:
						col = white
					default:
						col = teal
					}
					r += float64(col.R)
					g += float64(col.G)
					b += float64(col.B)
					a += 255
				}
			}
			n := float64(ss * ss)
			// Premultiplied: colour sums already carry coverage.
			img.SetRGBA(x, y, color.RGBA{uint8(r / n), uint8(g / n), uint8(b / n), uint8(a / n)})
		}
	}
	return img
}
