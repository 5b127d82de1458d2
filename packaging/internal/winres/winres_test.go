package winres

import (
	"bytes"
	"encoding/binary"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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
		if got := Numeric(tc.in); got != tc.want {
			t.Errorf("Numeric(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestVersionInfoRoundTrip(t *testing.T) {
	t.Parallel()
	in := Version{
		FileVersion:    [4]uint16{1, 2, 3, 4},
		ProductVersion: [4]uint16{5, 6, 7, 8},
		Strings:        map[string]string{"ProductName": "dnspin", "FileVersion": "1.2.3-rc1", "FileDescription": "Résolveur DNS"},
	}
	b := VersionInfo(in)
	if int(binary.LittleEndian.Uint16(b)) != len(b) {
		t.Fatalf("wLength %d != encoded length %d", binary.LittleEndian.Uint16(b), len(b))
	}
	got, err := ParseVersionInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.FileVersion != in.FileVersion || got.ProductVersion != in.ProductVersion {
		t.Errorf("versions %v %v, want %v %v", got.FileVersion, got.ProductVersion, in.FileVersion, in.ProductVersion)
	}
	for k, v := range in.Strings {
		if got.Strings[k] != v {
			t.Errorf("string %s = %q, want %q", k, got.Strings[k], v)
		}
	}
	if len(got.Strings) != len(in.Strings) {
		t.Errorf("got %d strings, want %d: %v", len(got.Strings), len(in.Strings), got.Strings)
	}
}

func TestIconDecodes(t *testing.T) {
	t.Parallel()
	ico := Icon()
	res, err := IconResources(ico, 7, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(IconSizes)+1 {
		t.Fatalf("got %d resources, want %d images + 1 group", len(res), len(IconSizes))
	}
	for i, r := range res[:len(IconSizes)] {
		img, err := png.Decode(bytes.NewReader(r.Data))
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		if s := img.Bounds().Dx(); s != IconSizes[i] || r.ID != uint16(20+i) {
			t.Errorf("image %d: size %d id %d, want %d id %d", i, s, r.ID, IconSizes[i], 20+i)
		}
		// The corner is transparent, the centre is opaque white.
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("size %d: corner alpha %d, want transparent", IconSizes[i], a)
		}
		if r, g, b, a := img.At(IconSizes[i]/2, IconSizes[i]/2).RGBA(); a != 0xffff || r != 0xffff || g != 0xffff || b != 0xffff {
			t.Errorf("size %d: centre %v %v %v %v, want opaque white", IconSizes[i], r, g, b, a)
		}
	}
	grp := res[len(res)-1]
	if grp.Type != TypeGroupIcon || grp.ID != 7 || binary.LittleEndian.Uint16(grp.Data[4:]) != uint16(len(IconSizes)) {
		t.Errorf("group resource %+v is wrong", grp.Type)
	}
	if _, err := IconResources([]byte("not an icon"), 1, 1); err == nil {
		t.Error("IconResources accepted garbage")
	}
}

func TestCOFFErrors(t *testing.T) {
	t.Parallel()
	r := Resource{Type: TypeVersion, ID: 1, Lang: LangEnUS, Data: []byte{1}}
	if _, err := COFF("mips", []Resource{r}); err == nil {
		t.Error("COFF accepted GOARCH mips")
	}
	if _, err := COFF("amd64", []Resource{r, r}); err == nil {
		t.Error("COFF accepted a duplicate resource")
	}
	if _, err := COFF("amd64", nil); err == nil {
		t.Error("COFF accepted no resources")
	}
}

// TestLinkedIntoExecutable links the .syso into real Windows executables
// with the Go toolchain and reads the resources back from the PE image,
// through the relocated RVAs, for each architecture we ship.
func TestLinkedIntoExecutable(t *testing.T) {
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
			ver := VersionInfo(Version{FileVersion: [4]uint16{1, 4, 2, 0}, ProductVersion: [4]uint16{1, 4, 2, 0},
				Strings: map[string]string{"ProductVersion": "1.4.2", "OriginalFilename": "probe.exe"}})
			res, err := IconResources(Icon(), 1, 1)
			if err != nil {
				t.Fatal(err)
			}
			res = append(res, Resource{Type: TypeVersion, ID: 1, Lang: LangEnUS, Data: ver})
			obj, err := COFF(arch, res)
			if err != nil {
				t.Fatal(err)
			}
			write := func(name, s string) {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write("go.mod", "module probe\n\ngo 1.22\n")
			write("main.go", "package main\n\nfunc main() {}\n")
			write("rsrc_windows_"+arch+".syso", string(obj))
			exe := filepath.Join(dir, "probe.exe")
			cmd := exec.Command(gobin, "build", "-o", exe, ".")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH="+arch, "CGO_ENABLED=0", "GOFLAGS=")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build with the .syso: %v\n%s", err, out)
			}
			got, err := ReadPE(exe)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(res) {
				t.Fatalf("executable has %d resources, want %d", len(got), len(res))
			}
			for i := range res {
				if got[i].Type != res[i].Type || got[i].ID != res[i].ID || got[i].Lang != res[i].Lang || !bytes.Equal(got[i].Data, res[i].Data) {
					t.Errorf("resource %d: type %d id %d lang %#x (%d bytes), want type %d id %d lang %#x (%d bytes)",
						i, got[i].Type, got[i].ID, got[i].Lang, len(got[i].Data), res[i].Type, res[i].ID, res[i].Lang, len(res[i].Data))
				}
			}
			v, err := ParseVersionInfo(got[len(got)-1].Data)
			if err != nil {
				t.Fatal(err)
			}
			if v.Strings["ProductVersion"] != "1.4.2" || v.FileVersion != [4]uint16{1, 4, 2, 0} {
				t.Errorf("version info read back: %+v", v)
			}
		})
	}
}
