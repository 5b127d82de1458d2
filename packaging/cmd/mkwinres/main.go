// Command mkwinres makes the Windows resources of a release build and
// checks built executables for them (packaging/release.sh runs it):
//
//	mkwinres syso -arch amd64 -version 1.2.3 -file dnspin.exe -desc "dnspin DNS service" [-icon F.ico] -o rsrc_windows_amd64.syso
//	mkwinres ico [-icon F.ico] -o dnspin.ico
//	mkwinres check -version 1.2.3 dist/.../dnspin.exe ...
//
// -icon takes the product icon (release.sh passes the tray's shield,
// tray/icons/green.ico); without it a drawn fallback icon is used.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dnspin/dnspin/packaging/internal/winres"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mkwinres:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: mkwinres syso|ico|check [options]")
	}
	fs := flag.NewFlagSet("mkwinres "+args[0], flag.ContinueOnError)
	out := fs.String("o", "", "output file")
	arch := fs.String("arch", "amd64", "GOARCH of the executable (amd64, arm64, 386)")
	version := fs.String("version", "0.0.0-dev", "version text, e.g. 1.2.3 or 1.2.3-rc1")
	file := fs.String("file", "dnspin.exe", "OriginalFilename")
	desc := fs.String("desc", "dnspin", "FileDescription (what Task Manager shows)")
	iconFile := fs.String("icon", "", ".ico file for the program icon (default: a drawn one)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	icon := winres.Icon()
	if *iconFile != "" {
		b, err := os.ReadFile(*iconFile)
		if err != nil {
			return fmt.Errorf("-icon: %w", err)
		}
		icon = b
	}
	switch args[0] {
	case "ico":
		if *out == "" {
			return errors.New("ico: -o FILE is required")
		}
		if _, err := winres.IconResources(icon, 1, 1); err != nil {
			return fmt.Errorf("-icon %s: %w", *iconFile, err)
		}
		return os.WriteFile(*out, icon, 0o644)
	case "syso":
		if *out == "" {
			return errors.New("syso: -o FILE is required")
		}
		res, err := winres.IconResources(icon, 1, 1)
		if err != nil {
			return err
		}
		n := winres.Numeric(*version)
		res = append(res, winres.Resource{Type: winres.TypeVersion, ID: 1, Lang: winres.LangEnUS, Data: winres.VersionInfo(winres.Version{
			FileVersion: n, ProductVersion: n,
			Strings: map[string]string{
				"CompanyName":      "dnspin",
				"FileDescription":  *desc,
				"FileVersion":      *version,
				"InternalName":     strings.TrimSuffix(*file, ".exe"),
				"LegalCopyright":   "Copyright the dnspin authors",
				"OriginalFilename": *file,
				"ProductName":      "dnspin",
				"ProductVersion":   *version,
			},
		})})
		b, err := winres.COFF(*arch, res)
		if err != nil {
			return err
		}
		return os.WriteFile(*out, b, 0o644)
	case "check":
		if fs.NArg() == 0 {
			return errors.New("check: name the .exe files to check")
		}
		for _, p := range fs.Args() {
			if err := check(p, *version, stdout); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown subcommand %q (want syso, ico or check)", args[0])
}

// check proves an executable carries version information for version and
// an icon group whose images are all present.
func check(path, version string, stdout io.Writer) error {
	res, err := winres.ReadPE(path)
	if err != nil {
		return err
	}
	var vi *winres.Version
	icons := map[uint16]bool{}
	var group []byte
	groups := 0
	for _, r := range res {
		switch r.Type {
		case winres.TypeVersion:
			v, err := winres.ParseVersionInfo(r.Data)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			vi = &v
		case winres.TypeIcon:
			icons[r.ID] = true
		case winres.TypeGroupIcon:
			groups++
			group = r.Data
		}
	}
	switch {
	case vi == nil:
		return fmt.Errorf("%s: no version resource", path)
	case vi.Strings["ProductVersion"] != version:
		return fmt.Errorf("%s: ProductVersion is %q, want %q", path, vi.Strings["ProductVersion"], version)
	case vi.FileVersion != winres.Numeric(version):
		return fmt.Errorf("%s: numeric file version %v, want %v", path, vi.FileVersion, winres.Numeric(version))
	case groups != 1 || len(group) < 6:
		return fmt.Errorf("%s: %d icon groups, want 1", path, groups)
	}
	// Every image the group names must be there (GRPICONDIR: 6-byte
	// header, then 14-byte entries ending in the RT_ICON ID).
	n := int(binary.LittleEndian.Uint16(group[4:]))
	if n == 0 || len(group) < 6+14*n {
		return fmt.Errorf("%s: icon group lists %d images in %d bytes", path, n, len(group))
	}
	for i := 0; i < n; i++ {
		if id := binary.LittleEndian.Uint16(group[6+14*i+12:]); !icons[id] {
			return fmt.Errorf("%s: icon group names image %d, which is missing", path, id)
		}
	}
	fmt.Fprintf(stdout, "%s: %s %s (%s), %d icon images\n", path, vi.Strings["ProductName"], vi.Strings["ProductVersion"], vi.Strings["FileDescription"], len(icons))
	return nil
}
