package ignition

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/images"
	"github.com/etcdboot/etcdboot/spec"
)

// MaxUserData is the user-data size limit of the big clouds (EC2 user data,
// GCE metadata values, Azure custom data): 16 KiB.
const MaxUserData = 16384

// Names the renderings share with the image and the agent.
const (
	// AgentUnit is the systemd unit, carried by the image, that every
	// rendering enables and starts.
	AgentUnit = "etcdboot-agent.service"
	// EtcdUser is the system user and group that own the key material.
	EtcdUser = "etcd"
	// HostsMarker is the first line of the /etc/hosts fragment.
	HostsMarker = "# etcdboot"
)

const (
	hostsPath    = "/etc/hosts"
	hostnamePath = "/etc/hostname"
	nologinShell = "/usr/sbin/nologin"

	secretMode fs.FileMode = 0o600
	publicMode fs.FileMode = 0o644
	// node.yaml carries no keys, but it may carry a TSIG update secret or a
	// discovery token: only root (the agent) reads it.
	payloadMode fs.FileMode = 0o600
)

// ErrTooLarge is returned, wrapped in an error naming the payload, its size
// and the limit, when a rendering does not fit MaxUserData.
var ErrTooLarge = errors.New("rendered user-data exceeds the cloud user-data limit")

// File is one file a node receives besides its payload: a certificate or key.
type File struct {
	// Path is the absolute path on the node.
	Path string
	// Mode is the permission bits; zero means 0600 for a Secret file and
	// 0644 otherwise.
	Mode fs.FileMode
	// Contents are written verbatim.
	Contents []byte
	// Secret marks key material: mode 0600, owned by the etcd user and group.
	Secret bool
}

// Bundle is everything rendered into one node's user-data.
type Bundle struct {
	// Payload is written to PayloadPath as YAML (yaml.v3 Marshal).
	Payload spec.NodePayload
	// PayloadPath defaults to spec.DefaultPayloadPath.
	PayloadPath string
	// Files are the certificates and keys at the paths named in Payload.TLS.
	Files []File
	// Hostname, when set, becomes the node's hostname.
	Hostname string
}

// rendering is a checked Bundle in the form both renderers consume: defaults
// applied, modes resolved, files in path order.
type rendering struct {
	label       string // names the payload in errors
	payloadPath string
	payload     []byte
	files       []File
	hosts       string
	hostname    string
	// backupDropIn sets the backup timer's interval; nil when the payload
	// has no backup section and the timer stays off.
	backupDropIn []byte
	// maintenanceDropIn is the same for the maintenance timer and a
	// maintenance section.
	maintenanceDropIn []byte
}

// label names the payload in messages: its node, or its cluster for a launch
// payload without a node.
func (b Bundle) label() string {
	if b.Payload.Node != nil && b.Payload.Node.Name != "" {
		return fmt.Sprintf("node %q", b.Payload.Node.Name)
	}
	return fmt.Sprintf("launch payload of cluster %q", b.Payload.Cluster)
}

// prepare checks b and resolves its defaults. Every problem is reported at
// once, each naming the field and what to do.
func (b Bundle) prepare() (*rendering, error) {
	r := &rendering{
		label:       b.label(),
		payloadPath: b.PayloadPath,
		hostname:    b.Hostname,
	}
	if r.payloadPath == "" {
		r.payloadPath = spec.DefaultPayloadPath
	}
	var problems []error
	add := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	if err := checkPath(r.payloadPath); err != nil {
		add("payloadPath: %w", err)
	}
	if r.hostname != "" && !validHostname(r.hostname) {
		add("hostname %q: not a valid hostname; use letters, digits, '-' and '.', at most 63 characters a label", r.hostname)
	}

	reserved := map[string]string{
		r.payloadPath:                     "the payload path",
		hostsPath:                         "appended to with the members' addresses",
		hostnamePath:                      "written from Bundle.Hostname",
		images.BackupTimerDropInPath:      "written from the payload's backup.interval",
		images.MaintenanceTimerDropInPath: "written from the payload's maintenance.interval",
	}
	keyPaths := map[string]string{}
	for _, k := range []struct{ field, path string }{
		{"tls.serverKeyFile", b.Payload.TLS.ServerKeyFile},
		{"tls.peerKeyFile", b.Payload.TLS.PeerKeyFile},
		{"tls.issuerKeyFile", b.Payload.TLS.IssuerKeyFile},
	} {
		if _, dup := keyPaths[k.path]; k.path != "" && !dup {
			keyPaths[k.path] = k.field
		}
	}
	seen := map[string]bool{}
	for i, f := range b.Files {
		where := fmt.Sprintf("files[%d] (%s)", i, f.Path)
		if err := checkPath(f.Path); err != nil {
			add("%s: %w", where, err)
			continue
		}
		if why, ok := reserved[f.Path]; ok {
			add("%s: the path is reserved (%s); choose another path", where, why)
		}
		if seen[f.Path] {
			add("%s: the path appears twice; give each file its own path", where)
		}
		seen[f.Path] = true
		if f.Mode&^fs.ModePerm != 0 {
			add("%s: mode %#o has bits beyond the permissions; give only permission bits such as 0644", where, uint32(f.Mode))
		}
		if f.Mode == 0 {
			f.Mode = publicMode
			if f.Secret {
				f.Mode = secretMode
			}
		}
		if f.Secret && f.Mode&0o077 != 0 {
			add("%s: a secret file may not be readable by group or others (mode %#o); use 0600", where, f.Mode.Perm())
		}
		if field, ok := keyPaths[f.Path]; ok && !f.Secret {
			add("%s: the payload names this path as %s but the file is not Secret; mark key material Secret", where, field)
		}
		if !f.Secret && bytes.Contains(f.Contents, []byte("PRIVATE KEY-----")) {
			add("%s: the contents hold a private key but the file is not Secret; mark key material Secret", where)
		}
		r.files = append(r.files, f)
	}
	slices.SortFunc(r.files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })

	for i, m := range b.Payload.Members {
		where := fmt.Sprintf("payload members[%d] (%s)", i, m.Name)
		if !validHostsName(m.Name) {
			add("%s: name %q cannot go in /etc/hosts; use a hostname without spaces or '#'", where, m.Name)
		}
		if m.FQDN != "" && !validHostsName(m.FQDN) {
			add("%s: fqdn %q cannot go in /etc/hosts; use a hostname without spaces or '#'", where, m.FQDN)
		}
		for _, ip := range m.IPs {
			if _, err := parseHostsAddr(ip); err != nil {
				add("%s: ip %q: %w", where, ip, err)
			}
		}
	}
	r.hosts = HostsEntries(b.Payload.Members)
	if dropIn, err := b.backupDropIn(); err != nil {
		add("payload backup.interval: %w", err)
	} else {
		r.backupDropIn = dropIn
	}
	if dropIn, err := b.maintenanceDropIn(); err != nil {
		add("payload maintenance.interval: %w", err)
	} else {
		r.maintenanceDropIn = dropIn
	}

	if len(problems) > 0 {
		return nil, fmt.Errorf("bundle for %s is not valid:\n%w", r.label, errors.Join(problems...))
	}

	payload, err := yaml.Marshal(b.Payload)
	if err != nil {
		return nil, fmt.Errorf("marshal the payload of %s as YAML: %w", r.label, err)
	}
	r.payload = payload
	return r, nil
}

// backupDropIn renders the backup timer's drop-in for the payload's interval
// (the default when unset), or nil without a backup section.
func (b Bundle) backupDropIn() ([]byte, error) {
	if b.Payload.Backup == nil {
		return nil, nil
	}
	bk := *b.Payload.Backup
	bk.ApplyDefaults()
	return images.BackupTimerDropIn(bk.Interval.Std())
}

// checkPath accepts an absolute, clean path without control characters.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("path is empty; give an absolute path")
	case !path.IsAbs(p):
		return fmt.Errorf("path %q is relative; give an absolute path", p)
	case path.Clean(p) != p || p == "/":
		return fmt.Errorf("path %q is not a clean file path; write it as %q", p, path.Clean(p))
	case strings.ContainsFunc(p, unicode.IsControl):
		return fmt.Errorf("path %q contains control characters; remove them", p)
	}
	return nil
}

// validHostname reports whether h is an RFC 1123 host name.
func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// validHostsName reports whether s can stand as a name field of an /etc/hosts
// line: it keeps the line's shape, nothing more.
func validHostsName(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '#'
	})
}
