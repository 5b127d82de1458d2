package activation

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"
)

// JournalFile is the journal's name inside the state directory.
const JournalFile = "activation-journal.json"

// Journal records exactly what the OS had before dnspin changed anything.
// It is written and fsynced before the first change; Restore replays it and
// then removes it. A journal found at start means an earlier run did not
// finish cleanly (crash, power loss): restore it, then re-apply if Active.
type Journal struct {
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Backend string    `json:"backend"` // which configurator wrote it
	Plan    Plan      `json:"plan"`
	Active  bool      `json:"active"` // dnspin is meant to be active
	// Nameservers are the resolvers the OS used before activation
	// ("IP" or "IP:port"): what upstreams = ["system"] means while active.
	Nameservers []string `json:"nameservers,omitempty"`
	Records     []Record `json:"records"`
}

// Record is one thing dnspin changed and what it was before.
type Record struct {
	Kind    string            `json:"kind"` // "file", "registry", "networksetup", "command", ...
	Key     string            `json:"key"`  // path, registry key\value, service name, ...
	Existed bool              `json:"existed"`
	Data    []byte            `json:"data,omitempty"` // previous bytes (file content, value)
	Mode    fs.FileMode       `json:"mode,omitempty"` // previous file mode
	Link    string            `json:"link,omitempty"` // previous symlink target, if it was one
	Meta    map[string]string `json:"meta,omitempty"` // backend-specific details
}

// Find returns the record of kind and key, if any.
func (j *Journal) Find(kind, key string) (*Record, bool) {
	return FindRecord(j.Records, kind, key)
}

// FindRecord is Find for any list of records (the journal's, the install
// manifest's); the pointer is into rs.
func FindRecord(rs []Record, kind, key string) (*Record, bool) {
	for i := range rs {
		if rs[i].Kind == kind && rs[i].Key == key {
			return &rs[i], true
		}
	}
	return nil, false
}

// WriteJournal stores j durably in dir.
func WriteJournal(fsys FS, dir string, j *Journal) error {
	if j.Version == 0 {
		j.Version = 1
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("journal: create state dir %s: %w", dir, err)
	}
	p := filepath.Join(dir, JournalFile)
	if err := fsys.WriteFileAtomic(p, b, 0o600); err != nil {
		return fmt.Errorf("journal %s: %w (nothing was changed)", p, err)
	}
	return nil
}

// ReadJournal loads the journal in dir; it returns nil, nil when there is none.
func ReadJournal(fsys FS, dir string) (*Journal, error) {
	p := filepath.Join(dir, JournalFile)
	b, err := fsys.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", p, err)
	}
	var j Journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("journal %s is damaged (%v): restore DNS settings by hand, then delete it", p, err)
	}
	return &j, nil
}

// RemoveJournal deletes the journal after a complete restore.
func RemoveJournal(fsys FS, dir string) error {
	err := fsys.Remove(filepath.Join(dir, JournalFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
