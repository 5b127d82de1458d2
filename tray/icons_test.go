package tray

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"testing"

	"github.com/dnspin/dnspin/tray/internal/iconart"
)

var allIcons = []Icon{IconGrey, IconGreen, IconAmber, IconRed}

// dominant returns the average colour of the opaque pixels.
func dominant(img image.Image) color.NRGBA {
	var r, g, b, n int
	bb := img.Bounds()
	for y := bb.Min.Y; y < bb.Max.Y; y++ {
		for x := bb.Min.X; x < bb.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			if c.A < 200 {
				continue
			}
			r, g, b, n = r+int(c.R), g+int(c.G), b+int(c.B), n+1
		}
	}
	if n == 0 {
		return color.NRGBA{}
	}
	return color.NRGBA{uint8(r / n), uint8(g / n), uint8(b / n), 255}
}

// checkColour checks the icon reads as its colour: what a user sees first.
func checkColour(t *testing.T, what string, i Icon, img image.Image) {
	t.Helper()
	c := dominant(img)
	r, g, b := int(c.R), int(c.G), int(c.B)
	ok := false
	switch i {
	case IconGreen:
		ok = g > r+40 && g > b+40
	case IconAmber:
		ok = r > b+100 && g > b+60 && r >= g
	case IconRed:
		ok = r > g+80 && r > b+80
	case IconGrey:
		ok = abs(r-g) < 20 && abs(g-b) < 20
	}
	if !ok {
		t.Errorf("%s: average colour %v does not read as %s", what, c, i)
	}
	// Transparent corners: the shape is a shield, not a square.
	if _, _, _, a := img.At(img.Bounds().Min.X, img.Bounds().Max.Y-1).RGBA(); a != 0 {
		t.Errorf("%s: bottom-left corner is not transparent", what)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestIconPNGsDecode(t *testing.T) {
	t.Parallel()
	for _, i := range allIcons {
		img, err := png.Decode(bytes.NewReader(IconPNG(i)))
		if err != nil {
			t.Fatalf("%s.png: %v", i, err)
		}
		if b := img.Bounds(); b.Dx() != iconart.PNGSize || b.Dy() != iconart.PNGSize {
			t.Errorf("%s.png is %v", i, b)
		}
		checkColour(t, i.String()+".png", i, img)
	}
}

// decodeICO reads an ICO file of 32-bit BMP entries the way Windows does:
// directory, then each BITMAPINFOHEADER and bottom-up BGRA rows.
func decodeICO(data []byte) ([]*image.NRGBA, error) {
	le := binary.LittleEndian
	if len(data) < 6 || le.Uint16(data[0:]) != 0 || le.Uint16(data[2:]) != 1 {
		return nil, fmt.Errorf("not an icon file")
	}
	n := int(le.Uint16(data[4:]))
	var out []*image.NRGBA
	for k := 0; k < n; k++ {
		d := data[6+16*k:]
		w := int(d[0])
		size, off := int(le.Uint32(d[8:])), int(le.Uint32(d[12:]))
		if off+size > len(data) {
			return nil, fmt.Errorf("entry %d runs past the end", k)
		}
		e := data[off : off+size]
		if bytes.HasPrefix(e, []byte("\x89PNG")) {
			return nil, fmt.Errorf("entry %d: unexpected PNG", k)
		}
		if le.Uint32(e) != 40 || int(le.Uint32(e[4:])) != w || int(le.Uint32(e[8:])) != 2*w || le.Uint16(e[14:]) != 32 {
			return nil, fmt.Errorf("entry %d: bad BITMAPINFOHEADER", k)
		}
		maskRow := ((w + 31) / 32) * 4
		if len(e) != 40+w*w*4+maskRow*w {
			return nil, fmt.Errorf("entry %d: %d bytes, want %d", k, len(e), 40+w*w*4+maskRow*w)
		}
		img := image.NewNRGBA(image.Rect(0, 0, w, w))
		px := e[40:]
		for y := 0; y < w; y++ {
			for x := 0; x < w; x++ {
				p := px[((w-1-y)*w+x)*4:]
				img.SetNRGBA(x, y, color.NRGBA{p[2], p[1], p[0], p[3]})
			}
		}
		out = append(out, img)
	}
	return out, nil
}

func TestIconICOsDecode(t *testing.T) {
	t.Parallel()
	for _, i := range allIcons {
		imgs, err := decodeICO(IconICO(i))
		if err != nil {
			t.Fatalf("%s.ico: %v", i, err)
		}
		if len(imgs) != len(iconart.ICOSizes()) {
			t.Fatalf("%s.ico has %d sizes", i, len(imgs))
		}
		for k, img := range imgs {
			if img.Bounds().Dx() != iconart.ICOSizes()[k] {
				t.Errorf("%s.ico entry %d is %d px", i, k, img.Bounds().Dx())
			}
			checkColour(t, fmt.Sprintf("%s.ico@%d", i, img.Bounds().Dx()), i, img)
		}
	}
}

// TestIconsUpToDate: the embedded files are what the generator draws now
// (run `go generate ./tray` after changing iconart).
func TestIconsUpToDate(t *testing.T) {
	t.Parallel()
	for _, i := range allIcons {
		st := iconart.Styles()[i.String()]
		if !bytes.Equal(IconPNG(i), iconart.PNG(st, iconart.PNGSize)) || !bytes.Equal(IconICO(i), iconart.ICO(st)) {
			t.Errorf("icons/%s.* are stale: run go generate ./tray", i)
		}
	}
}

// TestGlyphsDiffer: the four icons differ in shape, not only in colour, so
// colour-blind users can tell them apart (compared in grey levels).
func TestGlyphsDiffer(t *testing.T) {
	t.Parallel()
	grey := func(i Icon) []uint8 {
		img := iconart.Draw(iconart.Styles()[i.String()], 32)
		var g []uint8
		for y := 0; y < 32; y++ {
			for x := 0; x < 32; x++ {
				c := img.NRGBAAt(x, y)
				l := (299*int(c.R) + 587*int(c.G) + 114*int(c.B)) / 1000
				var light uint8
				if l > 160 {
					light = 1
				}
				g = append(g, light)
			}
		}
		return g
	}
	for a := 0; a < len(allIcons); a++ {
		for b := a + 1; b < len(allIcons); b++ {
			ga, gb := grey(allIcons[a]), grey(allIcons[b])
			diff := 0
			for k := range ga {
				if ga[k] != gb[k] {
					diff++
				}
			}
			if diff < 40 {
				t.Errorf("%s and %s differ in only %d of 1024 light/dark pixels", allIcons[a], allIcons[b], diff)
			}
		}
	}
}
