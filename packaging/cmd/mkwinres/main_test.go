package main

import (
	"bytes"
	"debug/pe"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/tc-hib/winres"
)

func TestNumeric(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want [4]uint16
	}{
		{"1.2.3", [4]uint16{1, 2, 3, 0}},
		{"v1.2.3", [4]uint16{1, 2, 3, 0}},
		{"1.2.3-rc1", [4]uint16{1, 2, 3, 0}},
		{"1.2.3.4", [4]uint16{1, 2, 3, 4}},
		{"1.2", [4]uint16{1, 2, 0, 0}},
		{"0.0.0-dev", [4]uint16{}},
		{"dev", [4]uint16{}},
		{"70000.1.1", [4]uint16{}}, // does not fit a WORD: treated as non-numeric
	} {
		if got := numeric(tc.in); got != tc.want {
			t.Errorf("numeric(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestDrawnIcon writes the fallback icon as an .ico (what the MSI gets)
// and reads every image back: one PNG per size, transparent corner,
// opaque white centre.
func TestDrawnIcon(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dnspin.ico")
	if err := run([]string{"ico", "-o", path}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	icon, err := winres.LoadICO(f)
	if err != nil {
		t.Fatalf("the written .ico does not load: %v", err)
	}
	// An icon in a resource set is one RT_ICON per image: read them back.
	rs := &winres.ResourceSet{}
	if err := rs.SetIcon(winres.ID(1), icon); err != nil {
		t.Fatal(err)
	}
	sizes := map[int]bool{}
	rs.WalkType(winres.RT_ICON, func(_ winres.Identifier, _ uint16, data []byte) bool {
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Errorf("icon image is not a PNG: %v", err)
			return true
		}
		s := img.Bounds().Dx()
		sizes[s] = true
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("size %d: corner alpha %d, want transparent", s, a)
		}
		if r, g, b, a := img.At(s/2, s/2).RGBA(); a != 0xffff || r != 0xffff || g != 0xffff || b != 0xffff {
			t.Errorf("size %d: centre %v %v %v %v, want opaque white", s, r, g, b, a)
		}
		return true
	})
	for _, s := range iconSizes {
		if !sizes[s] {
			t.Errorf("no %dx%d image in the icon (have %v)", s, s, sizes)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "x.syso")
	for _, args := range [][]string{
		nil,
		{"syso", "-arch", "mips", "-o", out},
		{"syso"},
		{"ico"},
		{"check"},
		{"frobnicate"},
		{"syso", "-icon", filepath.Join(t.TempDir(), "missing.ico"), "-o", out},
	} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("mkwinres %q: no error", args)
		}
	}
}

// TestSysoThenCheck makes the .syso the release uses, links it into
// Windows executables for each architecture we ship and runs the release
// check on them; the same program without the .syso must fail the check.
// Besides winres's reader, debug/pe finds the resource directory the
// linker made and the version text and PNG images inside it.
func TestSysoThenCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Windows executables")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH to link a test executable")
	}
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, s := range map[string]string{"go.mod": "module probe\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() {}\n"} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			build := func(exe string) {
				t.Helper()
				cmd := exec.Command(gobin, "build", "-o", exe, ".")
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH="+arch, "CGO_ENABLED=0", "GOFLAGS=")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go build: %v\n%s", err, out)
				}
			}
			bare := filepath.Join(dir, "bare.exe")
			build(bare)
			if err := run([]string{"check", "-version", "1.2.3", bare}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "has no resources") {
				t.Errorf("check of an executable without resources: %v, want 'has no resources'", err)
			}

			ico := filepath.Join(dir, "x.ico")
			if err := run([]string{"ico", "-o", ico}, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			syso := filepath.Join(dir, "rsrc_windows_"+arch+".syso")
			if err := run([]string{"syso", "-arch", arch, "-version", "1.2.3-rc1", "-file", "probe.exe", "-desc", "probe", "-icon", ico, "-o", syso}, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			exe := filepath.Join(dir, "probe.exe")
			build(exe)
			var out bytes.Buffer
			if err := run([]string{"check", "-version", "1.2.3-rc1", exe}, &out); err != nil {
				t.Fatal(err)
			}
			if want := "dnspin 1.2.3-rc1 (probe), 6 icon images"; !strings.Contains(out.String(), want) {
				t.Errorf("check output %q, want it to contain %q", out.String(), want)
			}
			if err := run([]string{"check", "-version", "1.2.4", exe}, &bytes.Buffer{}); err == nil {
				t.Error("check accepted the wrong version")
			}
			if err := run([]string{"syso", "-icon", filepath.Join(dir, "main.go"), "-o", syso}, &bytes.Buffer{}); err == nil {
				t.Error("syso accepted a non-icon -icon file")
			}

			rsrc := resourceBytes(t, exe)
			for what, b := range map[string][]byte{
				"ProductVersion text": utf16le("1.2.3-rc1"),
				"OriginalFilename":    utf16le("probe.exe"),
				"a PNG image":         []byte("\x89PNG\r\n\x1a\n"),
			} {
				if !bytes.Contains(rsrc, b) {
					t.Errorf("debug/pe: the resource section holds no %s", what)
				}
			}
		})
	}
}

// resourceBytes returns the section the image's resource data directory
// points into, found with debug/pe alone.
func resourceBytes(t *testing.T, exe string) []byte {
	t.Helper()
	f, err := pe.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		t.Fatalf("%s: optional header %T, want PE32+", exe, f.OptionalHeader)
	}
	dd := oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_RESOURCE]
	if dd.VirtualAddress == 0 || dd.Size == 0 {
		t.Fatalf("%s: no resource data directory", exe)
	}
	for _, s := range f.Sections {
		if dd.VirtualAddress >= s.VirtualAddress && dd.VirtualAddress < s.VirtualAddress+s.VirtualSize {
			b, err := s.Data()
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("%s: resource directory RVA %#x is in no section", exe, dd.VirtualAddress)
	return nil
}

func utf16le(s string) []byte {
	var b []byte
	for _, c := range utf16.Encode([]rune(s)) {
		b = append(b, byte(c), byte(c>>8))
	}
	return b
}
