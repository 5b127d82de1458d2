package installer

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
)

// Fakes for the Windows, macOS and service tests: an in-memory registry and
// filesystem and a scripted command runner, all writing one wmTranscript that
// is compared with testdata/*.golden (regenerate: go test ./installer -update).

func init() {
	// Another test file of this package may define -update as well.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite testdata/*.golden")
	}
}

func wmUpdatingGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// checkWMGolden compares got with testdata/name.golden.
func checkWMGolden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if wmUpdatingGolden() {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./installer -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden wmTranscript (go test ./installer -update rewrites it after review):\n%s", p, wmLineDiff(string(want), got))
	}
}

func wmLineDiff(want, got string) string {
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

type wmTranscript struct {
	mu    sync.Mutex
	lines []string
}

func (t *wmTranscript) add(format string, a ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, fmt.Sprintf(format, a...))
}

func (t *wmTranscript) section(name string) { t.add("## %s", name) }

func (t *wmTranscript) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n") + "\n"
}

// wmRegistry is HKLM in memory. Key paths compare case-insensitively, as
// in Windows.
type wmRegistry struct {
	tr   *wmTranscript
	keys map[string]map[string]RegValue // lower-case key -> values
	name map[string]string              // lower-case key -> spelling
	// failSets makes SetValue fail once this many sets have succeeded
	// (0: never), like a crash or an access error in the middle of Apply.
	failSets, sets int
}

func newWMRegistry(tr *wmTranscript) *wmRegistry {
	return &wmRegistry{tr: tr, keys: map[string]map[string]RegValue{}, name: map[string]string{}}
}

// seed sets a value without recording it (the machine's state before the test).
func (r *wmRegistry) seed(key, name string, v RegValue) {
	r.ensure(key)
	r.keys[strings.ToLower(key)][name] = v
}

func (r *wmRegistry) ensure(key string) {
	parts := strings.Split(key, `\`)
	for i := 1; i <= len(parts); i++ {
		k := strings.Join(parts[:i], `\`)
		if _, ok := r.keys[strings.ToLower(k)]; !ok {
			r.keys[strings.ToLower(k)] = map[string]RegValue{}
			r.name[strings.ToLower(k)] = k
		}
	}
}

func (r *wmRegistry) GetValue(key, name string) (RegValue, bool, error) {
	vals, ok := r.keys[strings.ToLower(key)]
	if !ok {
		return RegValue{}, false, nil
	}
	v, ok := vals[name]
	return v, ok, nil
}

func (r *wmRegistry) SetValue(key, name string, v RegValue) error {
	if r.failSets > 0 && r.sets >= r.failSets {
		r.tr.add("reg set    %s\\%s FAILS (injected)", HKLM(key), name)
		return fmt.Errorf("registry %s\\%s: access denied (injected)", HKLM(key), name)
	}
	r.sets++
	r.tr.add("reg set    %s\\%s = %#v", HKLM(key), name, v)
	r.ensure(key)
	r.keys[strings.ToLower(key)][name] = v
	return nil
}

func (r *wmRegistry) DeleteValue(key, name string) error {
	r.tr.add("reg delete %s\\%s", HKLM(key), name)
	if vals, ok := r.keys[strings.ToLower(key)]; ok {
		delete(vals, name)
	}
	return nil
}

func (r *wmRegistry) SubKeys(key string) ([]string, error) {
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

func (r *wmRegistry) KeyExists(key string) (bool, error) {
	_, ok := r.keys[strings.ToLower(key)]
	return ok, nil
}

func (r *wmRegistry) DeleteKey(key string) error {
	r.tr.add("reg delete-key %s", HKLM(key))
	if subs, _ := r.SubKeys(key); len(subs) > 0 {
		return fmt.Errorf("registry %s has subkeys", HKLM(key))
	}
	delete(r.keys, strings.ToLower(key))
	return nil
}

// dump renders the whole registry, for "restore put back exactly" checks.
func (r *wmRegistry) dump() string {
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

// wmFS is a filesystem in memory that records every change. Writes of the
// journal are shown with the records they hold, so the wmTranscript proves the
// journal was fsynced before the first change.
type wmFS struct {
	tr    *wmTranscript
	files map[string]*wmFile
	// failWrite makes writes to this path fail (to test error paths).
	failWrite string
}

type wmFile struct {
	data []byte
	mode fs.FileMode // includes fs.ModeDir for directories
	link string
}

func newWMFS(tr *wmTranscript) *wmFS {
	return &wmFS{tr: tr, files: map[string]*wmFile{"/": {mode: fs.ModeDir | 0o755}}}
}

func (m *wmFS) seedFile(name string, data string, mode fs.FileMode) {
	m.mkdirs(wmDir(name), 0o755)
	m.files[name] = &wmFile{data: []byte(data), mode: mode}
}

func (m *wmFS) mkdirs(name string, perm fs.FileMode) {
	for d := name; d != "/" && d != "." && !strings.HasSuffix(d, ":"); d = wmDir(d) {
		if _, ok := m.files[d]; !ok {
			m.files[d] = &wmFile{mode: fs.ModeDir | perm}
		}
	}
}

func wmNotExist(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

func (m *wmFS) ReadFile(name string) ([]byte, error) {
	f, ok := m.files[name]
	if !ok {
		return nil, wmNotExist("open", name)
	}
	if f.mode.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	return bytes.Clone(f.data), nil
}

func (m *wmFS) write(op, name string, data []byte, perm fs.FileMode) error {
	if name == m.failWrite {
		return &fs.PathError{Op: op, Path: name, Err: errors.New("injected failure")}
	}
	if d, ok := m.files[wmDir(name)]; !ok || !d.mode.IsDir() {
		return wmNotExist(op, name)
	}
	if strings.HasSuffix(name, ManifestFile) {
		var mf Manifest
		if err := json.Unmarshal(data, &mf); err != nil {
			return err
		}
		last := mf.Records[len(mf.Records)-1]
		m.tr.add("%s manifest %s records=%d last=%s %s", op, name, len(mf.Records), last.Kind, last.Key)
	} else if strings.HasSuffix(name, JournalFile) {
		var j Journal
		if err := json.Unmarshal(data, &j); err != nil {
			return err
		}
		m.tr.add("%s journal %s (fsynced) active=%v mode=%s records=%d", op, name, j.Active, j.Plan.Mode, len(j.Records))
		for _, r := range j.Records {
			m.tr.add("    record %s", describeRecord(r))
		}
	} else {
		m.tr.add("%s %s %04o %q", op, name, perm, data)
	}
	m.files[name] = &wmFile{data: bytes.Clone(data), mode: perm}
	return nil
}

func describeRecord(r Record) string {
	s := fmt.Sprintf("%s %s existed=%v", r.Kind, r.Key, r.Existed)
	if r.Kind == kindRegValue && r.Existed {
		var v RegValue
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

func (m *wmFS) WriteFile(name string, data []byte, perm fs.FileMode) error {
	return m.write("write", name, data, perm)
}

func (m *wmFS) WriteFileAtomic(name string, data []byte, perm fs.FileMode) error {
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

func (m *wmFS) Stat(name string) (fs.FileInfo, error) {
	f, ok := m.files[name]
	if !ok {
		return nil, wmNotExist("stat", name)
	}
	return wmInfo{name, f}, nil
}

func (m *wmFS) Lstat(name string) (fs.FileInfo, error) { return m.Stat(name) }

func (m *wmFS) Readlink(name string) (string, error) {
	f, ok := m.files[name]
	if !ok || f.link == "" {
		return "", wmNotExist("readlink", name)
	}
	return f.link, nil
}

func (m *wmFS) Rename(a, b string) error {
	f, ok := m.files[a]
	if !ok {
		return wmNotExist("rename", a)
	}
	m.tr.add("rename %s %s", a, b)
	m.files[b] = f
	delete(m.files, a)
	return nil
}

func (m *wmFS) Remove(name string) error {
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
	m.tr.add("remove %s", name)
	delete(m.files, name)
	return nil
}

func (m *wmFS) RemoveAll(name string) error {
	m.tr.add("remove-all %s", name)
	for p := range m.files {
		if p == name || strings.HasPrefix(p, name+"/") || strings.HasPrefix(p, name+`\`) {
			delete(m.files, p)
		}
	}
	return nil
}

func (m *wmFS) MkdirAll(name string, perm fs.FileMode) error {
	if f, ok := m.files[name]; ok && f.mode.IsDir() {
		return nil
	}
	if !strings.HasSuffix(name, "/state") && !strings.Contains(name, "/state/") {
		m.tr.add("mkdir %s %04o", name, perm)
	}
	m.mkdirs(name, perm)
	return nil
}

func (m *wmFS) Chmod(name string, perm fs.FileMode) error {
	f, ok := m.files[name]
	if !ok {
		return wmNotExist("chmod", name)
	}
	m.tr.add("chmod %s %04o", name, perm)
	f.mode = f.mode&fs.ModeType | perm
	return nil
}

// dump renders every file except those under skip.
func (m *wmFS) dump(skip string) string {
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

// scriptRunner records commands and answers them from a script: the output
// for a command line, or the output of a function for dynamic answers.
type scriptRunner struct {
	tr      *wmTranscript
	answers map[string]func() (string, error)
	// handler answers commands not in answers, when set.
	handler func(name string, args []string) (string, error)
}

func newScriptRunner(tr *wmTranscript) *scriptRunner {
	return &scriptRunner{tr: tr, answers: map[string]func() (string, error){}}
}

func (s *scriptRunner) on(cmdline string, f func() (string, error)) { s.answers[cmdline] = f }

// quiet are read-only commands left out of transcripts (they change nothing).
func (s *scriptRunner) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	line := name
	for _, a := range args {
		if strings.ContainsAny(a, " \"") || a == "" {
			a = fmt.Sprintf("%q", a)
		}
		line += " " + a
	}
	s.tr.add("run %s", line)
	if f, ok := s.answers[line]; ok {
		out, err := f()
		return []byte(out), err
	}
	if s.handler != nil {
		out, err := s.handler(name, args)
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
