package installer

import "golang.org/x/sys/windows"

// RequireAdmin returns nil when this process may change the system's DNS
// settings and services (an elevated administrator), else an error saying
// how to run command ("activate", "install", ...) so that it may.
func RequireAdmin(command string) error {
	if windows.GetCurrentProcessToken().IsElevated() {
		return nil
	}
	return &notAdmin{right: "administrator rights", hint: AdminHint(command)}
}

// AdminHint says how to run `dnspin command` with the rights it needs.
func AdminHint(command string) string {
	return "run dnspin " + command + " from an elevated prompt (right-click Command Prompt, Run as administrator)"
}
