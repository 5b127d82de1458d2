// Command mkwinres makes the Windows resources of a release build and
// checks built executables for them (packaging/release.sh runs it):
//
//	mkwinres syso -arch amd64 -version 1.2.3 -file dnspin.exe -desc "dnspin DNS service" [-icon F.ico] -o rsrc_windows_amd64.syso
//	mkwinres ico [-icon F.ico] -o dnspin.ico
//	mkwinres check -version 1.2.3 dist/.../dnspin.exe ...
//
// -icon takes the product icon (release.sh passes the tray's shield,
// tray/icons/green.ico); without it a drawn fallback icon is used.
// The resource formats (COFF object, icon groups, VS_VERSIONINFO) are
// github.com/tc-hib/winres's: this command only says what goes in.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/tc-hib/winres"
	"github.com/tc-hib/winres/version"
)

// langEnUS is the language of every resource we write, as rc.exe does by
// default; the string table is keyed "0409" with code page 1200 (Unicode).
const langEnUS = 0x0409

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
	ver := fs.String("version", "0.0.0-dev", "version text, e.g. 1.2.3 or 1.2.3-rc1")
	file := fs.String("file", "dnspin.exe", "OriginalFilename")
	desc := fs.String("desc", "dnspin", "FileDescription (what Task Manager shows)")
	iconFile := fs.String("icon", "", ".ico file for the program icon (default: a drawn one)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "ico":
		if *out == "" {
			return errors.New("ico: -o FILE is required")
		}
		icon, err := loadIcon(*iconFile)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := icon.SaveICO(&b); err != nil {
			return fmt.Errorf("ico: %w", err)
		}
		return os.WriteFile(*out, b.Bytes(), 0o644)
	case "syso":
		if *out == "" {
			return errors.New("syso: -o FILE is required")
		}
		a, err := goarch(*arch)
		if err != nil {
			return err
		}
		icon, err := loadIcon(*iconFile)
		if err != nil {
			return err
		}
		rs, err := resources(icon, *ver, *file, *desc)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := rs.WriteObject(&b, a); err != nil {
			return fmt.Errorf("syso for %s: %w", *arch, err)
		}
		return os.WriteFile(*out, b.Bytes(), 0o644)
	case "check":
		if fs.NArg() == 0 {
			return errors.New("check: name the .exe files to check")
		}
		for _, p := range fs.Args() {
			if err := check(p, *ver, stdout); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown subcommand %q (want syso, ico or check)", args[0])
}

func goarch(s string) (winres.Arch, error) {
	switch a := winres.Arch(s); a {
	case winres.ArchAMD64, winres.ArchARM64, winres.ArchI386:
		return a, nil
	}
	return "", fmt.Errorf("-arch %q: no Windows resources for that GOARCH (want amd64, arm64 or 386)", s)
}

// loadIcon reads the .ico at path, or draws the fallback icon for "".
func loadIcon(path string) (*winres.Icon, error) {
	if path == "" {
		return drawnIcon()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-icon: %w", err)
	}
	defer f.Close()
	icon, err := winres.LoadICO(f)
	if err != nil {
		return nil, fmt.Errorf("-icon %s: not a usable .ico file: %w", path, err)
	}
	return icon, nil
}

// resources is what every dnspin executable carries: the program icon
// (group 1, the one Explorer shows) and the version information that
// Properties > Details and Task Manager show.
func resources(icon *winres.Icon, ver, file, desc string) (*winres.ResourceSet, error) {
	rs := &winres.ResourceSet{}
	if err := rs.SetIconTranslation(winres.ID(1), langEnUS, icon); err != nil {
		return nil, fmt.Errorf("icon: %w", err)
	}
	n := numeric(ver)
	vi := version.Info{FileVersion: n, ProductVersion: n}
	for k, v := range map[string]string{
		version.CompanyName:      "dnspin",
		version.FileDescription:  desc,
		version.FileVersion:      ver,
		version.InternalName:     strings.TrimSuffix(file, ".exe"),
		version.LegalCopyright:   "Copyright the dnspin authors",
		version.OriginalFilename: file,
		version.ProductName:      "dnspin",
		version.ProductVersion:   ver,
	} {
		if err := vi.Set(langEnUS, k, v); err != nil {
			return nil, fmt.Errorf("version string %s=%q: %w", k, v, err)
		}
	}
	rs.SetVersionInfo(vi)
	return rs, nil
}

// numeric parses the leading "X.Y.Z[.W]" of a version such as "1.2.3-rc1"
// or "v1.2.3"; missing or non-numeric parts are 0 (a development build is
// 0.0.0.0 numerically but keeps its full text in the string table). It is
// ours, not version.Info.SetFileVersion, because that one wraps parts
// above 65535 instead of refusing them.
func numeric(v string) [4]uint16 {
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

// check proves an executable carries version information for version and
// an icon group whose images are all present, reading them back the way
// Windows finds them (the image's resource directory).
func check(path, ver string, stdout io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rs, err := winres.LoadFromEXE(f)
	if errors.Is(err, winres.ErrNoResources) {
		return fmt.Errorf("%s: has no resources (was the .syso linked?)", path)
	}
	if err != nil {
		return fmt.Errorf("%s: reading its resources: %w", path, err)
	}
	data := rs.Get(winres.RT_VERSION, winres.ID(1), langEnUS)
	if data == nil {
		return fmt.Errorf("%s: no version resource", path)
	}
	vi, err := version.FromBytes(data)
	if err != nil {
		return fmt.Errorf("%s: version resource: %w", path, err)
	}
	strs, err := versionStrings(vi)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	groups := 0
	rs.WalkType(winres.RT_GROUP_ICON, func(winres.Identifier, uint16, []byte) bool { groups++; return true })
	images := 0
	rs.WalkType(winres.RT_ICON, func(winres.Identifier, uint16, []byte) bool { images++; return true })
	switch {
	case strs[version.ProductVersion] != ver:
		return fmt.Errorf("%s: ProductVersion is %q, want %q", path, strs[version.ProductVersion], ver)
	case vi.FileVersion != numeric(ver):
		return fmt.Errorf("%s: numeric file version %v, want %v", path, vi.FileVersion, numeric(ver))
	case groups != 1:
		return fmt.Errorf("%s: %d icon groups, want 1", path, groups)
	}
	// GetIcon fails if the group names an image that is not there.
	if _, err := rs.GetIcon(winres.ID(1)); err != nil {
		return fmt.Errorf("%s: icon group 1: %w", path, err)
	}
	fmt.Fprintf(stdout, "%s: %s %s (%s), %d icon images\n", path, strs[version.ProductName], strs[version.ProductVersion], strs[version.FileDescription], images)
	return nil
}

// versionStrings returns the en-US string table of vi. version.Info keeps
// its tables unexported; its JSON form is the documented way to read them.
func versionStrings(vi *version.Info) (map[string]string, error) {
	b, err := vi.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("version resource: %w", err)
	}
	var j struct {
		Info map[string]map[string]string `json:"info"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("version resource: %w", err)
	}
	s, ok := j.Info[fmt.Sprintf("%04X", langEnUS)]
	if !ok {
		return nil, fmt.Errorf("version resource has no en-US (0409) string table")
	}
	return s, nil
}
