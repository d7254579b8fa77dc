package plugins

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
)

// BuiltinSpec registers a plugin compiled into the berthd binary. It is
// launched as `<self exe> plugin serve NAME`.
type BuiltinSpec struct {
	Name  string
	Kinds []base.Kind
	// Config is passed to Configure of every kind after each (re)start.
	Config map[string]string
}

// Manifest describes a third-party plugin: one JSON file per plugin in the
// plugin directory, e.g.
//
//	{"name":"x","kinds":["berth.runtime.v1"],"path":"/opt/x/bin/x","args":[],"sha256":"<hex>"}
//
// SHA256 is optional; when set, the binary is checked before every launch.
// Config is optional and passed to Configure like a built-in's.
type Manifest struct {
	Name   string            `json:"name"`
	Kinds  []base.Kind       `json:"kinds"`
	Path   string            `json:"path"`
	Args   []string          `json:"args"`
	SHA256 string            `json:"sha256,omitempty"`
	Config map[string]string `json:"config,omitempty"`
}

// knownKinds lists the kinds the host can dispense and proxy today.
var knownKinds = []base.Kind{base.KindRuntime, base.KindGraphDriver}

// allKinds lists every kind name a manifest may declare.
var allKinds = []base.Kind{
	base.KindRuntime, base.KindGraphDriver, base.KindNetwork, base.KindIPAM,
	base.KindVolume, base.KindLog, base.KindAuthz,
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

func validateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("plugin name %q must match %s: %w", name, nameRE, errdefs.ErrInvalidArgument)
	}
	return nil
}

func validateKinds(name string, kinds []base.Kind) error {
	if len(kinds) == 0 {
		return fmt.Errorf("plugin %q declares no kinds: %w", name, errdefs.ErrInvalidArgument)
	}
	seen := map[base.Kind]bool{}
	for _, k := range kinds {
		if !slices.Contains(allKinds, k) {
			return fmt.Errorf("plugin %q: unknown kind %q (known: %v): %w", name, k, allKinds, errdefs.ErrInvalidArgument)
		}
		if !slices.Contains(knownKinds, k) {
			return fmt.Errorf("plugin %q: kind %q is not supported by this berthd yet: %w", name, k, errdefs.ErrUnimplemented)
		}
		if seen[k] {
			return fmt.Errorf("plugin %q: kind %q listed twice: %w", name, k, errdefs.ErrInvalidArgument)
		}
		seen[k] = true
	}
	return nil
}

// Validate checks a manifest without touching the binary.
func (m *Manifest) Validate() error {
	if err := validateName(m.Name); err != nil {
		return err
	}
	if err := validateKinds(m.Name, m.Kinds); err != nil {
		return err
	}
	if m.Path == "" || !filepath.IsAbs(m.Path) {
		return fmt.Errorf("plugin %q: path %q must be absolute: %w", m.Name, m.Path, errdefs.ErrInvalidArgument)
	}
	if m.SHA256 != "" {
		b, err := hex.DecodeString(m.SHA256)
		if err != nil || len(b) != 32 {
			return fmt.Errorf("plugin %q: sha256 must be 64 hex digits: %w", m.Name, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// ParseManifest decodes and validates one manifest. Unknown fields are
// refused so that a typo (e.g. "sha265") does not silently disable a check.
func ParseManifest(data []byte) (*Manifest, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w: %w", errdefs.ErrInvalidArgument, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode manifest: trailing data: %w", errdefs.ErrInvalidArgument)
	}
	m.SHA256 = strings.ToLower(m.SHA256)
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// ReadManifests reads every *.json file of dir in name order. A missing
// directory holds no manifests. Each bad file is reported; the good ones are
// still returned.
func ReadManifests(dir string) ([]*Manifest, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read plugin dir: %w", err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			files = append(files, e.Name())
		}
	}
	sort.Strings(files)
	var out []*Manifest
	var errs []error
	for _, f := range files {
		p := filepath.Join(dir, f)
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("manifest %s: %w", p, err))
			continue
		}
		m, err := ParseManifest(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("manifest %s: %w", p, err))
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}
