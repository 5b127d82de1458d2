package config

import "testing"

// TestDecodeMessages: every way the TOML decoder can reject a file ends
// as one line in dnspin's own form (file:line: key: what to write), never
// in the TOML library's or Go's parser's words.
func TestDecodeMessages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, want string }{
		{"[platform]\ndomains = \"x\"\n", `config c.toml:2: platform.domains: expects a list, e.g. domains = ["x"]`},
		{"upstreams = \"192.0.2.53\" # the router\n", `config c.toml:1: upstreams: expects a list, e.g. upstreams = ["192.0.2.53"]`},
		{"[platform]\ndomains = [\"x.example\"]\n[[pin]]\nname = \"a.x.example\"\na = [\"192.0.2.300\"]\n", `config c.toml:5: pin.a: "192.0.2.300" is not an IP address: write it like "192.0.2.10"`},
		{"[platform]\ndomains = [\"x.example\"]\n[[pin]]\nname = \"a.x.example\"\naaaa = [\"2001:db8::zz\"]\n", `config c.toml:5: pin.aaaa: "2001:db8::zz" is not an IP address: write it like "2001:db8::10"`},
		{"[[pin]]\nname = \"a.x.example\"\naaaa = \"::1\"\n", `config c.toml:3: pin.aaaa: expects a list of addresses, e.g. aaaa = ["::1"]`},
		{"mode = auto\n", `config c.toml:1: mode: expected value but found "auto" instead: text needs quotes, e.g. mode = "auto"`},
		{"mode = 3\n", `config c.toml:1: mode: expects one value in quotes, e.g. mode = "3"`},
		{"cache_size = \"big\"\n", `config c.toml:1: cache_size: expects a whole number without quotes, e.g. cache_size = 10000`},
		{"allow_remote = \"yes\"\n", `config c.toml:1: allow_remote: expects true or false without quotes, e.g. allow_remote = true`},
		{"[outage]\nanswer_budget = 300\n", `config c.toml:2: outage.answer_budget: "300" is not a duration: write it like "300ms", "10s" or "72h"`},
		{"platform = \"x\"\n", `config c.toml:1: platform: is a table: write [platform] on its own line, followed by its keys`},
		{"pin = \"x\"\n", `config c.toml:1: pin: is a list of tables: write each one as [[pin]] on its own line, followed by its keys`},
		{"[platform\n", `config c.toml:2: expected '.' or ']' to end table name, but got '\n' instead: fix the TOML syntax on that line (text needs quotes, lists brackets)`},
	} {
		_, err := Parse("c.toml", []byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q):\n got %v\nwant %s", tc.src, err, tc.want)
		}
	}
}
