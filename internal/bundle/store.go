package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dnspin/dnspin/internal/atomicfile"
)

// store keeps the last accepted bundle and the fetch state under
// StateDir/bundle/: bundle.json holds the exact bytes that verified (they are
// verified again at load, so a file edited on disk is not trusted) and
// state.json the serial in use (anti-rollback) and the mirrors' validators.
// An empty dir keeps everything in memory.
type store struct{ dir string }

// validator is what a mirror told us to send back in a conditional request.
type validator struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// fetchState is state.json.
type fetchState struct {
	Serial     uint64               `json:"serial"`             // highest serial accepted under Key for Platform
	Key        string               `json:"key,omitempty"`      // public key the serial belongs to
	Platform   string               `json:"platform,omitempty"` // platform the serial belongs to
	Source     string               `json:"source,omitempty"`   // URL the bundle in use came from
	Accepted   time.Time            `json:"accepted,omitzero"`
	Validators map[string]validator `json:"validators,omitempty"` // by URL, for the bundle in use
}

const (
	bundleFile = "bundle.json"
	stateFile  = "state.json"
)

func (s store) load() ([]byte, fetchState, error) {
	var st fetchState
	if s.dir == "" {
		return nil, st, nil
	}
	var errs []error
	sp := filepath.Join(s.dir, stateFile)
	if b, err := os.ReadFile(sp); err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			// Keep going: the bundle itself carries its serial.
			st = fetchState{}
			errs = append(errs, fmt.Errorf("%s: %w (ignored; rewritten at the next accepted bundle)", sp, err))
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	data, err := os.ReadFile(filepath.Join(s.dir, bundleFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return data, st, errors.Join(errs...)
}

// saveBundle writes the bundle first and the state second: after a crash in
// between the newer serial is still on disk (in the bundle), and load takes
// the higher of the two.
func (s store) saveBundle(data []byte, st fetchState) error {
	if s.dir == "" {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(s.dir, bundleFile), data); err != nil {
		return err
	}
	return s.saveState(st)
}

func (s store) saveState(st fetchState) error {
	if s.dir == "" {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.dir, stateFile), append(b, '\n'))
}

// writeAtomic replaces name durably (see internal/atomicfile).
func writeAtomic(name string, data []byte) error { return atomicfile.Write(name, data, 0o644) }
