// Package activationtest holds the fakes the Windows, macOS and install
// tests share: an in-memory registry and filesystem, a scripted command
// runner and networksetup, all writing one Transcript that is compared with
// the calling package's testdata/*.golden (regenerate: go test -update in
// that package, then review the diff).
package activationtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dnspin/dnspin/installer/activation"
)

func init() {
	// Another test file of this package may define -update as well.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite testdata/*.golden")
	}
}

func updatingGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// CheckGolden compares got with testdata/name.golden.
func CheckGolden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if updatingGolden() {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update in this package to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden Transcript (go test -update in this package rewrites it after review):\n%s", p, LineDiff(string(want), got))
	}
}

func LineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
		}
	}
	return b.String()
}

type Transcript struct {
	mu    sync.Mutex
	lines []string
}

func (t *Transcript) Add(format string, a ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, fmt.Sprintf(format, a...))
}

func (t *Transcript) Section(name string) { t.Add("## %s", name) }

// Len is the number of lines so far.
func (t *Transcript) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.lines)
}

func (t *Transcript) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n") + "\n"
}

// Registry is HKLM in memory. Key paths compare case-insensitively, as
// in Windows.
type Registry struct {
	tr   *Transcript
	keys map[string]map[string]activation.RegValue // lower-case key -> values
	name map[string]string                         // lower-case key -> spelling
	// FailSets makes SetValue fail once this many Sets have succeeded
	// (0: never), like a crash or an access error in the middle of Apply.
	FailSets, Sets int
}

func NewRegistry(tr *Transcript) *Registry {
	return &Registry{tr: tr, keys: map[string]map[string]activation.RegValue{}, name: map[string]string{}}
}

// seed Sets a value without recording it (the machine's state before the test).
func (r *Registry) Seed(key, name string, v activation.RegValue) {
	r.ensure(key)
	r.keys[strings.ToLower(key)][name] = v
}

func (r *Registry) ensure(key string) {
	parts := strings.Split(key, `\`)
	for i := 1; i <= len(parts); i++ {
		k := strings.Join(parts[:i], `\`)
		if _, ok := r.keys[strings.ToLower(k)]; !ok {
			r.keys[strings.ToLower(k)] = map[string]activation.RegValue{}
			r.name[strings.ToLower(k)] = k
		}
	}
}

func (r *Registry) GetValue(key, name string) (activation.RegValue, bool, error) {
	vals, ok := r.keys[strings.ToLower(key)]
	if !ok {
		return activation.RegValue{}, false, nil
	}
	v, ok := vals[name]
	return v, ok, nil
}

func (r *Registry) SetValue(key, name string, v activation.RegValue) error {
	if r.FailSets > 0 && r.Sets >= r.FailSets {
		r.tr.Add("reg set    %s\\%s FAILS (injected)", activation.HKLM(key), name)
		return fmt.Errorf("registry %s\\%s: access denied (injected)", activation.HKLM(key), name)
	}
	r.Sets++
	r.tr.Add("reg set    %s\\%s = %#v", activation.HKLM(key), name, v)
	r.ensure(key)
	r.keys[strings.ToLower(key)][name] = v
	return nil
}

func (r *Registry) DeleteValue(key, name string) error {
	r.tr.Add("reg delete %s\\%s", activation.HKLM(key), name)
	if vals, ok := r.keys[strings.ToLower(key)]; ok {
		delete(vals, name)
	}
	return nil
}

func (r *Registry) SubKeys(key string) ([]string, error) {
	pre := strings.ToLower(key) + `\`
	var out []string
	for k := range r.keys {
		if rest, ok := strings.CutPrefix(k, pre); ok && !strings.Contains(rest, `\`) {
			out = append(out, path.Base(strings.ReplaceAll(r.name[k], `\`, "/")))
		}
	}
	slices.Sort(out)
	return out, nil
}

func (r *Registry) KeyExists(key string) (bool, error) {
	_, ok := r.keys[strings.ToLower(key)]
	return ok, nil
}

func (r *Registry) DeleteKey(key string) error {
	r.tr.Add("reg delete-key %s", activation.HKLM(key))
	if subs, _ := r.SubKeys(key); len(subs) > 0 {
		return fmt.Errorf("registry %s has subkeys", activation.HKLM(key))
	}
	delete(r.keys, strings.ToLower(key))
	return nil
}

// dump renders the whole registry, for "restore put back exactly" checks.
func (r *Registry) Dump() string {
	var ks []string
	for k := range r.keys {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	var b strings.Builder
	for _, k := range ks {
		fmt.Fprintf(&b, "[%s]\n", r.name[k])
		var ns []string
		for n := range r.keys[k] {
			ns = append(ns, n)
		}
		slices.Sort(ns)
		for _, n := range ns {
			fmt.Fprintf(&b, "  %s = %#v\n", n, r.keys[k][n])
		}
	}
	return b.String()
}

// FS is a filesystem in memory that records every change. Writes of the
// journal are shown with the records they hold, so the Transcript proves the
// journal was fsynced before the first change.
type FS struct {
	tr    *Transcript
	files map[string]*wmFile
	// FailWrite makes writes to this path fail (to test error paths).
	FailWrite string
	// Describe, when set, renders the write of a file of the caller's own
	// (the installer's manifest) as one transcript line; ok false leaves
	// the write to the default rendering.
	Describe func(op, name string, data []byte) (line string, ok bool, err error)
}

func (m *FS) describe(op, name string, data []byte) (string, bool, error) {
	if m.Describe == nil {
		return "", false, nil
	}
	return m.Describe(op, name, data)
}

type wmFile struct {
	data []byte
	mode fs.FileMode // includes fs.ModeDir for directories
	link string
}

func NewFS(tr *Transcript) *FS {
	return &FS{tr: tr, files: map[string]*wmFile{"/": {mode: fs.ModeDir | 0o755}}}
}

func (m *FS) SeedFile(name string, data string, mode fs.FileMode) {
	m.Mkdirs(wmDir(name), 0o755)
	m.files[name] = &wmFile{data: []byte(data), mode: mode}
}

func (m *FS) Mkdirs(name string, perm fs.FileMode) {
	for d := name; d != "/" && d != "." && !strings.HasSuffix(d, ":"); d = wmDir(d) {
		if _, ok := m.files[d]; !ok {
			m.files[d] = &wmFile{mode: fs.ModeDir | perm}
		}
	}
}

func wmNotExist(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

func (m *FS) ReadFile(name string) ([]byte, error) {
	f, ok := m.files[name]
	if !ok {
		return nil, wmNotExist("open", name)
	}
	if f.mode.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	return bytes.Clone(f.data), nil
}

func (m *FS) write(op, name string, data []byte, perm fs.FileMode) error {
	if name == m.FailWrite {
		return &fs.PathError{Op: op, Path: name, Err: errors.New("injected failure")}
	}
	if d, ok := m.files[wmDir(name)]; !ok || !d.mode.IsDir() {
		return wmNotExist(op, name)
	}
	if line, ok, err := m.describe(op, name, data); err != nil {
		return err
	} else if ok {
		m.tr.Add("%s", line)
	} else if strings.HasSuffix(name, activation.JournalFile) {
		var j activation.Journal
		if err := json.Unmarshal(data, &j); err != nil {
			return err
		}
		m.tr.Add("%s journal %s (fsynced) active=%v mode=%s records=%d", op, name, j.Active, j.Plan.Mode, len(j.Records))
		for _, r := range j.Records {
			m.tr.Add("    record %s", DescribeRecord(r))
		}
	} else {
		m.tr.Add("%s %s %04o %q", op, name, perm, data)
	}
	m.files[name] = &wmFile{data: bytes.Clone(data), mode: perm}
	return nil
}

func DescribeRecord(r activation.Record) string {
	s := fmt.Sprintf("%s %s existed=%v", r.Kind, r.Key, r.Existed)
	if r.Kind == activation.KindRegValue && r.Existed {
		var v activation.RegValue
		_ = json.Unmarshal(r.Data, &v)
		s += " was " + v.GoString()
	} else if len(r.Data) > 0 {
		s += fmt.Sprintf(" was %q", r.Data)
	}
	if r.Mode != 0 {
		s += fmt.Sprintf(" mode=%04o", r.Mode)
	}
	var ks []string
	for k := range r.Meta {
		if k != "key" && k != "value" {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	for _, k := range ks {
		s += fmt.Sprintf(" %s=%q", k, r.Meta[k])
	}
	return s
}

func (m *FS) WriteFile(name string, data []byte, perm fs.FileMode) error {
	return m.write("write", name, data, perm)
}

func (m *FS) WriteFileAtomic(name string, data []byte, perm fs.FileMode) error {
	return m.write("write-atomic", name, data, perm)
}

type wmInfo struct {
	name string
	f    *wmFile
}

func (i wmInfo) Name() string       { return path.Base(i.name) }
func (i wmInfo) Size() int64        { return int64(len(i.f.data)) }
func (i wmInfo) Mode() fs.FileMode  { return i.f.mode }
func (i wmInfo) ModTime() time.Time { return time.Time{} }
func (i wmInfo) IsDir() bool        { return i.f.mode.IsDir() }
func (i wmInfo) Sys() any           { return nil }

func (m *FS) Stat(name string) (fs.FileInfo, error) {
	f, ok := m.files[name]
	if !ok {
		return nil, wmNotExist("stat", name)
	}
	return wmInfo{name, f}, nil
}

func (m *FS) Lstat(name string) (fs.FileInfo, error) { return m.Stat(name) }

func (m *FS) Readlink(name string) (string, error) {
	f, ok := m.files[name]
	if !ok || f.link == "" {
		return "", wmNotExist("readlink", name)
	}
	return f.link, nil
}

func (m *FS) Rename(a, b string) error {
	f, ok := m.files[a]
	if !ok {
		return wmNotExist("rename", a)
	}
	m.tr.Add("rename %s %s", a, b)
	m.files[b] = f
	delete(m.files, a)
	return nil
}

func (m *FS) Remove(name string) error {
	f, ok := m.files[name]
	if !ok {
		return wmNotExist("remove", name)
	}
	if f.mode.IsDir() {
		for p := range m.files {
			if strings.HasPrefix(p, name+"/") {
				return &fs.PathError{Op: "remove", Path: name, Err: errors.New("directory not empty")}
			}
		}
	}
	m.tr.Add("remove %s", name)
	delete(m.files, name)
	return nil
}

func (m *FS) RemoveAll(name string) error {
	m.tr.Add("remove-all %s", name)
	for p := range m.files {
		if p == name || strings.HasPrefix(p, name+"/") || strings.HasPrefix(p, name+`\`) {
			delete(m.files, p)
		}
	}
	return nil
}

func (m *FS) MkdirAll(name string, perm fs.FileMode) error {
	if f, ok := m.files[name]; ok && f.mode.IsDir() {
		return nil
	}
	if !strings.HasSuffix(name, "/state") && !strings.Contains(name, "/state/") {
		m.tr.Add("mkdir %s %04o", name, perm)
	}
	m.Mkdirs(name, perm)
	return nil
}

func (m *FS) Chmod(name string, perm fs.FileMode) error {
	f, ok := m.files[name]
	if !ok {
		return wmNotExist("chmod", name)
	}
	m.tr.Add("chmod %s %04o", name, perm)
	f.mode = f.mode&fs.ModeType | perm
	return nil
}

// dump renders every file except those under skip.
func (m *FS) Dump(skip string) string {
	var ps []string
	for p := range m.files {
		if skip != "" && (p == skip || strings.HasPrefix(p, skip+"/")) {
			continue
		}
		ps = append(ps, p)
	}
	slices.Sort(ps)
	var b strings.Builder
	for _, p := range ps {
		f := m.files[p]
		fmt.Fprintf(&b, "%s %v %q\n", p, f.mode, f.data)
	}
	return b.String()
}

// ScriptRunner records commands and answers them from a script: the output
// for a command line, or the output of a function for dynamic answers.
type ScriptRunner struct {
	tr      *Transcript
	answers map[string]func() (string, error)
	// Handler answers commands not in answers, when set.
	Handler func(name string, args []string) (string, error)
}

func NewScriptRunner(tr *Transcript) *ScriptRunner {
	return &ScriptRunner{tr: tr, answers: map[string]func() (string, error){}}
}

func (s *ScriptRunner) On(cmdline string, f func() (string, error)) { s.answers[cmdline] = f }

// quiet are read-only commands left out of transcripts (they change nothing).
func (s *ScriptRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	line := name
	for _, a := range args {
		if strings.ContainsAny(a, " \"") || a == "" {
			a = fmt.Sprintf("%q", a)
		}
		line += " " + a
	}
	s.tr.Add("run %s", line)
	if f, ok := s.answers[line]; ok {
		out, err := f()
		return []byte(out), err
	}
	if s.Handler != nil {
		out, err := s.Handler(name, args)
		return []byte(out), err
	}
	return nil, nil
}

// wmDir is path.Dir that also understands Windows paths (C:\a\b).
func wmDir(p string) string {
	if strings.Contains(p, `\`) {
		if i := strings.LastIndexByte(p, '\\'); i > 0 {
			return p[:i]
		}
		return p
	}
	return path.Dir(p)
}

// Networksetup answers as networksetup would: it is networksetup's view of a Mac: services in order, a
// disabled one, and each service's explicit DNS list (nil = "Empty").
type Networksetup struct {
	Order    []string
	Disabled map[string]bool
	DNS      map[string][]string
}

func (n *Networksetup) Handle(name string, args []string) (string, error) {
	switch {
	case name == "networksetup" && len(args) == 1 && args[0] == "-listallnetworkservices":
		var b strings.Builder
		b.WriteString("An asterisk (*) denotes that a network service is disabled.\n")
		for _, s := range n.Order {
			if n.Disabled[s] {
				b.WriteString("*")
			}
			b.WriteString(s + "\n")
		}
		return b.String(), nil
	case name == "networksetup" && len(args) == 2 && args[0] == "-getdnsservers":
		l, ok := n.DNS[args[1]]
		if !ok && !slices.Contains(n.Order, args[1]) {
			return fmt.Sprintf("%s is not a recognized network service.\n", args[1]), fmt.Errorf("exit status 4")
		}
		if l == nil {
			return fmt.Sprintf("There aren't any DNS Servers set on %s.\n", args[1]), nil
		}
		return strings.Join(l, "\n") + "\n", nil
	case name == "networksetup" && len(args) >= 3 && args[0] == "-setdnsservers":
		if len(args) == 3 && args[2] == "Empty" {
			n.DNS[args[1]] = nil
		} else {
			n.DNS[args[1]] = slices.Clone(args[2:])
		}
		return "", nil
	case name == "dscacheutil" || name == "killall":
		return "", nil
	}
	return "", fmt.Errorf("unexpected command %s %v", name, args)
}

func (n *Networksetup) Dump() string {
	var b strings.Builder
	for _, s := range n.Order {
		fmt.Fprintf(&b, "%s disabled=%v dns=%q\n", s, n.Disabled[s], n.DNS[s])
	}
	return b.String()
}

// The interfaces of WindowsMachine.
const (
	IfStatic = `{11111111-aaaa-4bbb-8ccc-000000000001}`
	IfDHCP   = `{22222222-aaaa-4bbb-8ccc-000000000002}`
	IfAbsent = `{33333333-aaaa-4bbb-8ccc-000000000003}` // DHCP, NameServer value never written
	IfDown   = `{44444444-aaaa-4bbb-8ccc-000000000004}` // no DNS at all: left alone
)

// WindowsMachine is a Windows machine's registry as the tests start it: one
// interface with static DNS, one with DHCP DNS and an empty NameServer (as
// Windows writes it after "Obtain DNS server address automatically"), one
// with DHCP DNS and no NameServer value, one without DNS, and an IPv6
// interface with DHCPv6 DNS.
func WindowsMachine(tr *Transcript) *Registry {
	r := NewRegistry(tr)
	r.Seed(activation.TcpipIfKey+`\`+IfStatic, "NameServer", activation.SZ("192.0.2.53,192.0.2.54"))
	r.Seed(activation.TcpipIfKey+`\`+IfStatic, "DhcpNameServer", activation.SZ("203.0.113.9"))
	r.Seed(activation.TcpipIfKey+`\`+IfDHCP, "NameServer", activation.SZ(""))
	r.Seed(activation.TcpipIfKey+`\`+IfDHCP, "DhcpNameServer", activation.SZ("198.51.100.1 198.51.100.2"))
	r.Seed(activation.TcpipIfKey+`\`+IfAbsent, "DhcpNameServer", activation.SZ("198.51.100.7"))
	r.Seed(activation.TcpipIfKey+`\`+IfDown, "EnableDHCP", activation.DWord(1))
	r.Seed(activation.Tcpip6IfKey+`\`+IfDHCP, "DhcpNameServer", activation.SZ("2001:db8::53"))
	r.Seed(runKey, "SecurityHealth", activation.RegValue{Type: activation.RegExpandSZ, String: `%windir%\system32\SecurityHealthSystray.exe`})
	r.Seed(activation.NRPTLocalKey, "placeholder-so-the-key-exists", activation.DWord(0))
	return r
}

// runKey is the installer's autostart key, where WindowsMachine holds
// another program's value.
const runKey = `SOFTWARE\Microsoft\Windows\CurrentVersion\Run`
