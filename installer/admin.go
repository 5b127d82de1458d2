package installer

import (
	"errors"
	"fmt"
)

// ErrNotAdmin is wrapped by RequireAdmin's error, so callers can tell a
// missing right from a failure.
var ErrNotAdmin = errors.New("not an administrator")

// notAdmin is RequireAdmin's error: one line that names the missing right
// and what to do, and promises that nothing was changed (the check comes
// before any change).
type notAdmin struct{ right, hint string }

func (e *notAdmin) Error() string {
	return fmt.Sprintf("needs %s to change the system: %s; nothing was changed", e.right, e.hint)
}

func (e *notAdmin) Unwrap() error { return ErrNotAdmin }
