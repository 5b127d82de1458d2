package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"systemd", "-exe", "/usr/bin/dnspin"}, []string{
			"\nExecStart=/usr/bin/dnspin run --service --config /etc/dnspin/dnspin.toml\n",
			"\nRestart=always\n", "\nWantedBy=multi-user.target\n"}},
		{[]string{"tray-desktop", "-exe", "/usr/bin/dnspin-tray"}, []string{
			"[Desktop Entry]\n", "\nExec=/usr/bin/dnspin-tray\n"}},
	} {
		var b bytes.Buffer
		if err := run(tc.args, &b); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, w, b.String())
			}
		}
	}
	for _, bad := range [][]string{nil, {"systemd"}, {"nonsense", "-exe", "/x"}} {
		if err := run(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
