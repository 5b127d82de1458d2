package installer

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// CheckConfigPermissions refuses a config that is not owned by
// Administrators, SYSTEM or the account the service itself runs as: the pins
// in it decide where the platform's names point, and its owner may always
// rewrite its ACL. The service calls it at start. (Install also resets the
// folder's ACL with icacls so only Administrators and SYSTEM may write.)
// Its own account is no weaker than SYSTEM (whoever is that account can change what the
// service does anyway); it is what a file written by the service's account
// is owned by where the system does not make Administrators the owner, e.g.
// under Wine, which keeps no file owners.
func CheckConfigPermissions(path string) error {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("config %s: reading its owner: %w", path, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("config %s: reading its owner: %w", path, err)
	}
	if owner.IsWellKnown(windows.WinBuiltinAdministratorsSid) || owner.IsWellKnown(windows.WinLocalSystemSid) {
		return nil
	}
	if u, err := windows.GetCurrentProcessToken().GetTokenUser(); err == nil && owner.Equals(u.User.Sid) {
		return nil
	}
	name, domain, _, _ := owner.LookupAccount("")
	return fmt.Errorf("config %s is owned by %s\\%s, not Administrators, so that user could change the pinned addresses: reinstall it from an elevated prompt with `dnspin install --config FILE`, or run `icacls \"%s\" /setowner *S-1-5-32-544`", path, domain, name, path)
}
