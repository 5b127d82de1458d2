//go:build !windows

package installer

import "os"

// RequireAdmin returns nil when this process may change the system's DNS
// settings and services (root), else an error saying how to run command
// ("activate", "install", ...) so that it may.
func RequireAdmin(command string) error {
	if os.Geteuid() == 0 {
		return nil
	}
	return &notAdmin{right: "root", hint: AdminHint(command)}
}

// AdminHint says how to run `dnspin command` with the rights it needs.
func AdminHint(command string) string {
	return "run it as root, e.g. sudo dnspin " + command
}
