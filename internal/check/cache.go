package check

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"

	"github.com/sysdiag/sysdiag/internal/scan"
	"github.com/sysdiag/sysdiag/internal/unitfile"
)

// Cache keeps libraries' per-export summaries by GNU build-id, so a library is disassembled once per
// build (check --cache: $XDG_CACHE_HOME/sysdiag/scan, else ~/.cache/sysdiag/scan). A library without a
// build-id is not cached.
type Cache struct {
	Dir string
}

// cacheFormat changes when the scanner's output does: an old file is then ignored.
const cacheFormat = 1

type cacheFile struct {
	Format  int                    `json:"format"`
	BuildID string                 `json:"build_id"`
	Needed  []string               `json:"needed"`
	RunPath []string               `json:"runpath"`
	Exports map[string]scan.Export `json:"exports"`
}

var buildIDRe = regexp.MustCompile(`^[0-9a-f]{8,128}$`)

func (c *Cache) path(id string) (string, bool) {
	if !buildIDRe.MatchString(id) {
		return "", false
	}
	return filepath.Join(c.Dir, id+".json"), true
}

// Get reads a library's summaries back (nil when not cached, or unreadable).
func (c *Cache) Get(name, id string) *scan.Library {
	p, ok := c.path(id)
	if !ok {
		return nil
	}
	raw, err := os.ReadFile(p)
	if err != nil || len(raw) > 256<<20 {
		return nil
	}
	var cf cacheFile
	if json.Unmarshal(raw, &cf) != nil || cf.Format != cacheFormat || cf.BuildID != id || cf.Exports == nil {
		return nil
	}
	return scan.CachedLibrary(name, id, cf.Needed, cf.RunPath, cf.Exports)
}

// Put writes a scanned library's summaries (every export), atomically.
func (c *Cache) Put(lib *scan.Library) error {
	if lib.Cached() {
		return nil
	}
	p, ok := c.path(lib.BuildID)
	if !ok {
		return nil
	}
	raw, err := json.Marshal(cacheFile{Format: cacheFormat, BuildID: lib.BuildID, Needed: lib.Needed, RunPath: lib.RunPath, Exports: lib.All()})
	if err != nil {
		return err
	}
	return unitfile.WriteFileAtomic(p, raw)
}

// DefaultCacheDir is $XDG_CACHE_HOME/sysdiag/scan, else ~/.cache/sysdiag/scan.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", errors.New("no cache directory: set $XDG_CACHE_HOME or $HOME")
	}
	return filepath.Join(d, "sysdiag", "scan"), nil
}
