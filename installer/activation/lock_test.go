package activation

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The activation lock is held for milliseconds; a holder that does not let
// go makes the next taker give up with a message that says what to do,
// instead of a command that never returns.
func TestLockGivesUp(t *testing.T) {
	name := filepath.Join(t.TempDir(), LockFile)
	unlock, err := lockFile(name, lockWait)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockFile(name, 3*lockPoll) // held by the first taker (another open file: another process's view)
	if err == nil {
		t.Fatal("took a lock another holder has")
	}
	if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "try again") {
		t.Fatalf("message %q should name %s and what to do", err, name)
	}
	unlock()
	again, err := lockFile(name, 0) // free now: taken at the first try
	if err != nil {
		t.Fatalf("free lock not taken: %v", err)
	}
	again()
	done := make(chan error, 1)
	unlock, err = lockFile(name, lockWait)
	if err != nil {
		t.Fatal(err)
	}
	go func() { // a taker waits while the holder finishes
		u, err := lockFile(name, lockWait)
		if err == nil {
			u()
		}
		done <- err
	}()
	time.Sleep(2 * lockPoll) // let it start waiting; its outcome does not depend on this
	unlock()
	if err := <-done; err != nil {
		t.Fatalf("waiting taker: %v", err)
	}
}
