package installer

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// CheckConfigPermissions refuses a config that is not owned by
// Administrators or SYSTEM: the pins in it decide where the platform's names
// point. The service calls it at start. (Install also resets the folder's
// ACL with icacls so only Administrators and SYSTEM may write.)
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
	name, domain, _, _ := owner.LookupAccount("")
	return fmt.Errorf("config %s is owned by %s\\%s, not Administrators, so that user could change the pinned addresses: reinstall it from an elevated prompt with `dnspin install --config FILE`, or run `icacls \"%s\" /setowner *S-1-5-32-544`", path, domain, name, path)
}
