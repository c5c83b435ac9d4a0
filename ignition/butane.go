package ignition

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	butane "github.com/coreos/butane/config"
	"github.com/coreos/butane/config/common"
	v3_4 "github.com/coreos/ignition/v2/config/v3_4"
	"github.com/coreos/vcontext/report"
	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/images"
)

// Butane variants RenderButane and RenderIgnition accept.
const (
	VariantFCOS    = "fcos"
	VariantFlatcar = "flatcar"
)

// butaneVersions pins the Butane spec of each variant; both translate to
// Ignition spec 3.4.0, which every supported FCOS and Flatcar release reads.
var butaneVersions = map[string]string{
	VariantFCOS:    "1.5.0",
	VariantFlatcar: "1.1.0",
}

// RenderButane renders b as a Butane config of variant "fcos" (spec 1.5.0) or
// "flatcar" (spec 1.1.0).
func RenderButane(b Bundle, variant string) ([]byte, error) {
	r, err := b.prepare()
	if err != nil {
		return nil, err
	}
	return renderButane(r, variant)
}

// RenderIgnition renders b as Ignition JSON (spec 3.4.0): the Butane config
// of RenderButane, translated by Butane (which gzips inline contents where
// that is smaller), strict about every warning, checked by ValidateIgnition
// and by MaxUserData.
func RenderIgnition(b Bundle, variant string) ([]byte, error) {
	r, err := b.prepare()
	if err != nil {
		return nil, err
	}
	bu, err := renderButane(r, variant)
	if err != nil {
		return nil, err
	}
	ign, rpt, err := butane.TranslateBytes(bu, common.TranslateBytesOptions{})
	if err != nil {
		return nil, fmt.Errorf("translate the Butane config of %s to Ignition: %w%s", r.label, err, problems(rpt))
	}
	if p := problems(rpt); p != "" {
		return nil, fmt.Errorf("translate the Butane config of %s to Ignition: Butane reports:%s", r.label, p)
	}
	if err := ValidateIgnition(ign); err != nil {
		return nil, fmt.Errorf("the Ignition config of %s: %w", r.label, err)
	}
	if len(ign) > MaxUserData {
		return nil, tooLarge("Ignition config", r.label, len(ign))
	}
	return ign, nil
}

// ValidateIgnition checks data with Ignition's own parser, as the node's
// Ignition will: any spec version up to 3.4.0 (the newest both FCOS and
// Flatcar read). Errors and warnings both fail.
func ValidateIgnition(data []byte) error {
	_, rpt, err := v3_4.ParseCompatibleVersion(data)
	if err != nil {
		return fmt.Errorf("ignition rejects the config: %w%s", err, problems(rpt))
	}
	if p := problems(rpt); p != "" {
		return fmt.Errorf("ignition reports problems in the config:%s", p)
	}
	return nil
}

// problems lists the report's errors and warnings, one per line; infos are
// not problems.
func problems(rpt report.Report) string {
	var sb strings.Builder
	for _, e := range rpt.Entries {
		if e.Kind == report.Info {
			continue
		}
		sb.WriteString("\n  " + e.String())
	}
	return sb.String()
}

// tooLarge is the error for a rendering over MaxUserData.
func tooLarge(format, label string, size int) error {
	return fmt.Errorf("%s of %s is %d bytes, %d over the %d-byte user-data limit: %w; "+
		"use ecdsa keys (pki.keyAlgorithm: ecdsa), fewer members in the payload, "+
		"or serve the payload over HTTP (etcdboot serve) and pass only a pointer to it as user-data",
		format, label, size, size-MaxUserData, MaxUserData, ErrTooLarge)
}

// The Butane subset etcdboot writes. Butane's own schema types would marshal
// every unset field; these keep the .bu readable and in a fixed key order.
type (
	butaneConfig struct {
		Variant string        `yaml:"variant"`
		Version string        `yaml:"version"`
		Passwd  butanePasswd  `yaml:"passwd"`
		Storage butaneStorage `yaml:"storage"`
		Systemd butaneSystemd `yaml:"systemd"`
	}
	// butanePasswd has no groups: Ignition runs groupadd for every group
	// listed and fails when it exists, as the etcd group does in images the
	// etcdboot provisioner baked. useradd --system makes the user's own
	// group where none exists (USERGROUPS_ENAB, the default of Fedora CoreOS,
	// Flatcar and Debian), and Ignition runs usermod for a user that exists.
	butanePasswd struct {
		Users []butaneUser `yaml:"users"`
	}
	butaneUser struct {
		Name         string `yaml:"name"`
		System       bool   `yaml:"system"`
		NoCreateHome bool   `yaml:"no_create_home"`
		Shell        string `yaml:"shell"`
	}
	butaneStorage struct {
		Files []butaneFile `yaml:"files"`
	}
	butaneFile struct {
		Path      string           `yaml:"path"`
		Mode      octalMode        `yaml:"mode,omitempty"`
		User      *butaneNodeName  `yaml:"user,omitempty"`
		Group     *butaneNodeName  `yaml:"group,omitempty"`
		Overwrite bool             `yaml:"overwrite,omitempty"`
		Contents  *butaneResource  `yaml:"contents,omitempty"`
		Append    []butaneResource `yaml:"append,omitempty"`
	}
	butaneNodeName struct {
		Name string `yaml:"name"`
	}
	butaneResource struct {
		Inline      *string `yaml:"inline,omitempty"`
		Source      string  `yaml:"source,omitempty"`
		Compression string  `yaml:"compression,omitempty"`
	}
	butaneSystemd struct {
		Units []butaneUnit `yaml:"units"`
	}
	butaneUnit struct {
		Name    string         `yaml:"name"`
		Enabled bool           `yaml:"enabled"`
		Dropins []butaneDropin `yaml:"dropins,omitempty"`
	}
	butaneDropin struct {
		Name     string `yaml:"name"`
		Contents string `yaml:"contents"`
	}
)

// octalMode marshals as a YAML octal literal (0600), the way Butane configs
// are written by hand; YAML reads it back as the same integer.
type octalMode fs.FileMode

// MarshalYAML writes the mode as a leading-zero octal integer.
func (m octalMode) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprintf("0%o", uint32(m))}, nil
}

// IsZero lets omitempty drop an unset mode.
func (m octalMode) IsZero() bool { return m == 0 }

// renderButane writes the checked bundle as Butane YAML.
func renderButane(r *rendering, variant string) ([]byte, error) {
	version, ok := butaneVersions[variant]
	if !ok {
		return nil, fmt.Errorf("render Butane for %s: unknown variant %q; use %q or %q",
			r.label, variant, VariantFCOS, VariantFlatcar)
	}
	cfg := butaneConfig{
		Variant: variant,
		Version: version,
		Passwd: butanePasswd{
			Users: []butaneUser{{Name: EtcdUser, System: true, NoCreateHome: true, Shell: nologinShell}},
		},
		Systemd: butaneSystemd{Units: []butaneUnit{{Name: AgentUnit, Enabled: true}}},
	}

	if r.backupDropIn != nil {
		// The image carries the timer; the payload enables it and sets its interval.
		cfg.Systemd.Units = append(cfg.Systemd.Units, butaneUnit{Name: images.BackupTimer, Enabled: true,
			Dropins: []butaneDropin{{Name: path.Base(images.BackupTimerDropInPath), Contents: string(r.backupDropIn)}}})
	}
	if r.maintenanceDropIn != nil {
		cfg.Systemd.Units = append(cfg.Systemd.Units, butaneUnit{Name: images.MaintenanceTimer, Enabled: true,
			Dropins: []butaneDropin{{Name: path.Base(images.MaintenanceTimerDropInPath), Contents: string(r.maintenanceDropIn)}}})
	}

	files := &cfg.Storage.Files
	payload, err := contentsResource(r.payload)
	if err != nil {
		return nil, fmt.Errorf("render Butane for %s: %s: %w", r.label, r.payloadPath, err)
	}
	*files = append(*files, butaneFile{
		Path: r.payloadPath, Mode: octalMode(payloadMode), Overwrite: true, Contents: payload,
	})
	for _, f := range r.files {
		res, err := contentsResource(f.Contents)
		if err != nil {
			return nil, fmt.Errorf("render Butane for %s: %s: %w", r.label, f.Path, err)
		}
		bf := butaneFile{Path: f.Path, Mode: octalMode(f.Mode), Overwrite: true, Contents: res}
		if f.Secret {
			bf.User = &butaneNodeName{Name: EtcdUser}
			bf.Group = &butaneNodeName{Name: EtcdUser}
		}
		*files = append(*files, bf)
	}
	if r.hostname != "" {
		name := r.hostname + "\n"
		*files = append(*files, butaneFile{
			Path: hostnamePath, Mode: octalMode(publicMode), Overwrite: true,
			Contents: &butaneResource{Inline: &name},
		})
	}
	if r.hosts != "" {
		// No overwrite and no contents: Ignition appends to the image's file.
		*files = append(*files, butaneFile{
			Path: hostsPath, Append: []butaneResource{{Inline: &r.hosts}},
		})
	}
	slices.SortStableFunc(*files, func(a, b butaneFile) int { return strings.Compare(a.Path, b.Path) })

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("render Butane for %s: %w", r.label, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render Butane for %s: %w", r.label, err)
	}
	return buf.Bytes(), nil
}

// contentsResource inlines text, leaving compression to Butane; contents
// YAML cannot carry verbatim go in a (possibly gzipped) data URL instead.
func contentsResource(contents []byte) (*butaneResource, error) {
	if plainText(contents) {
		s := string(contents)
		return &butaneResource{Inline: &s}, nil
	}
	src, compression, err := dataURL(contents)
	if err != nil {
		return nil, err
	}
	return &butaneResource{Source: src, Compression: compression}, nil
}
