//go:build linux

package nstest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnspin/dnspin/internal/nstest"
)

// TestPIDNamespace: with PIDNamespace the body is PID 1 and /proc shows
// the namespace's processes only, so daemons started there die with it.
func TestPIDNamespace(t *testing.T) {
	nstest.Run(t, nstest.Options{PIDNamespace: true}, func(t *testing.T, env *nstest.Env) {
		if os.Getpid() != 1 {
			t.Fatalf("pid %d in the PID namespace, want 1", os.Getpid())
		}
		procs, _ := filepath.Glob("/proc/[0-9]*")
		if len(procs) != 1 {
			t.Fatalf("/proc lists %d processes, want this one only: %v", len(procs), procs)
		}
	})
}

func TestTreeDiff(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a", "1")
	write("b", "2")
	before := nstest.Tree(t, dir)
	if d := nstest.TreeDiff(before, nstest.Tree(t, dir)); len(d) != 0 {
		t.Fatalf("unchanged tree differs: %v", d)
	}
	write("a", "changed")
	if err := os.Remove(filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "c.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(nstest.TreeDiff(before, nstest.Tree(t, dir)), "\n")
	for _, want := range []string{"added " + dir + "/c.d (d", "added " + dir + "/l (L", "-> a)", "changed " + dir + "/a: ", "removed " + dir + "/b ("} {
		if !strings.Contains(got, want) {
			t.Errorf("TreeDiff lacks %q:\n%s", want, got)
		}
	}
}
