package ignition

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io/fs"

	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/images"
)

// cloudConfigHeader is the first line cloud-init requires of a cloud-config.
const cloudConfigHeader = "#cloud-config\n"

// The cloud-config subset etcdboot writes, in a fixed key order.
type (
	cloudConfig struct {
		Hostname   string      `yaml:"hostname,omitempty"`
		Users      []any       `yaml:"users"`
		WriteFiles []cloudFile `yaml:"write_files"`
		Runcmd     [][]string  `yaml:"runcmd,flow"`
	}
	cloudUser struct {
		Name       string `yaml:"name"`
		System     bool   `yaml:"system"`
		Shell      string `yaml:"shell"`
		LockPasswd bool   `yaml:"lock_passwd"`
	}
	cloudFile struct {
		Path        string `yaml:"path"`
		Owner       string `yaml:"owner,omitempty"`
		Permissions string `yaml:"permissions,omitempty"`
		Encoding    string `yaml:"encoding,omitempty"`
		Append      bool   `yaml:"append,omitempty"`
		Defer       bool   `yaml:"defer,omitempty"`
		Content     string `yaml:"content"`
	}
)

// RenderCloudInit renders b as cloud-init user-data: "#cloud-config" and
// YAML that keeps the image's default user, adds the etcd system user, writes
// the certificates and keys, appends the members to /etc/hosts, writes
// node.yaml last and starts the agent. Every file is written in the final
// stage (defer: true), after the etcd user exists and after cloud-init's own
// /etc/hosts management; anything that is smaller gzipped goes as gz+b64.
func RenderCloudInit(b Bundle) ([]byte, error) {
	r, err := b.prepare()
	if err != nil {
		return nil, err
	}
	cfg := cloudConfig{
		Hostname: r.hostname,
		Users: []any{
			"default", // without it cloud-init would not create the image's login user
			cloudUser{Name: EtcdUser, System: true, Shell: nologinShell, LockPasswd: true},
		},
		// --no-block: runcmd runs inside cloud-final.service, which the agent
		// unit may well be ordered after.
		Runcmd: [][]string{{"systemctl", "enable", "--now", "--no-block", AgentUnit}},
	}

	add := func(path string, contents []byte, f cloudFile) error {
		f.Path, f.Defer = path, true
		entry, err := smallestEntry(f, contents)
		if err != nil {
			return fmt.Errorf("render cloud-init for %s: %s: %w", r.label, path, err)
		}
		cfg.WriteFiles = append(cfg.WriteFiles, entry)
		return nil
	}
	for _, f := range r.files {
		cf := cloudFile{Owner: "root:root", Permissions: permissions(f.Mode)}
		if f.Secret {
			cf.Owner = EtcdUser + ":" + EtcdUser
		}
		if err := add(f.Path, f.Contents, cf); err != nil {
			return nil, err
		}
	}
	if r.hosts != "" {
		if err := add(hostsPath, []byte(r.hosts), cloudFile{Append: true}); err != nil {
			return nil, err
		}
	}
	if r.backupDropIn != nil {
		// The image carries the timer; the payload enables it and sets its
		// interval. Enabling reloads systemd, which then reads the drop-in.
		if err := add(images.BackupTimerDropInPath, r.backupDropIn, cloudFile{Owner: "root:root", Permissions: permissions(publicMode)}); err != nil {
			return nil, err
		}
		cfg.Runcmd = append(cfg.Runcmd, []string{"systemctl", "enable", "--now", "--no-block", images.BackupTimer})
	}
	if r.maintenanceDropIn != nil {
		if err := add(images.MaintenanceTimerDropInPath, r.maintenanceDropIn, cloudFile{Owner: "root:root", Permissions: permissions(publicMode)}); err != nil {
			return nil, err
		}
		cfg.Runcmd = append(cfg.Runcmd, []string{"systemctl", "enable", "--now", "--no-block", images.MaintenanceTimer})
	}
	// node.yaml goes last: once it exists, the whole payload is on disk.
	if err := add(r.payloadPath, r.payload, cloudFile{Owner: "root:root", Permissions: permissions(payloadMode)}); err != nil {
		return nil, err
	}

	body, err := marshalCloudYAML(cfg)
	if err != nil {
		return nil, fmt.Errorf("render cloud-init for %s: %w", r.label, err)
	}
	out := append([]byte(cloudConfigHeader), body...)
	if len(out) > MaxUserData {
		return nil, tooLarge("cloud-init user-data", r.label, len(out))
	}
	return out, nil
}

// permissions writes a mode the way cloud-init's write_files expects it.
func permissions(m fs.FileMode) string { return fmt.Sprintf("0%o", uint32(m.Perm())) }

// smallestEntry returns f carrying contents in whichever encoding makes the
// smallest write_files entry: plain text (when YAML can carry it verbatim),
// base64, or gzip+base64.
func smallestEntry(f cloudFile, contents []byte) (cloudFile, error) {
	var candidates []cloudFile
	if plainText(contents) {
		c := f
		c.Content = string(contents)
		candidates = append(candidates, c)
	}
	b64 := f
	b64.Encoding, b64.Content = "b64", base64.StdEncoding.EncodeToString(contents)
	candidates = append(candidates, b64)
	gz, err := gzipBytes(contents)
	if err != nil {
		return cloudFile{}, err
	}
	gzb64 := f
	gzb64.Encoding, gzb64.Content = "gz+b64", base64.StdEncoding.EncodeToString(gz)
	candidates = append(candidates, gzb64)

	best, bestSize := cloudFile{}, -1
	for _, c := range candidates {
		// Measure the entry where it will stand, in a write_files list.
		out, err := marshalCloudYAML(cloudConfig{WriteFiles: []cloudFile{c}})
		if err != nil {
			return cloudFile{}, err
		}
		if bestSize < 0 || len(out) < bestSize {
			best, bestSize = c, len(out)
		}
	}
	return best, nil
}

// marshalCloudYAML encodes v with a two-space indent, the compact form.
func marshalCloudYAML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("marshal cloud-config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal cloud-config: %w", err)
	}
	return buf.Bytes(), nil
}
