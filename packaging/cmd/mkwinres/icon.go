package main

import (
	"image"
	"image/color"
	"math"

	"github.com/tc-hib/winres"
)

// iconSizes are the square sizes in the drawn icon: what Explorer, the
// taskbar, the notification area and "Programs and Features" ask for.
var iconSizes = []int{16, 24, 32, 48, 64, 256}

// drawnIcon is dnspin's fallback program icon, used when no -icon is
// given: a teal disc with a white ring and centre dot, a "pinned" target.
// It is drawn, not checked in, so there is no binary blob to keep in sync;
// winres stores each size as a PNG image (valid in .ico since Vista).
func drawnIcon() (*winres.Icon, error) {
	imgs := make([]image.Image, 0, len(iconSizes))
	for _, s := range iconSizes {
		imgs = append(imgs, drawIcon(s))
	}
	return winres.NewIconFromImages(imgs)
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
