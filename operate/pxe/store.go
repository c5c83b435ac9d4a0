package pxe

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/spec"
)

// Files of one node directory the server reads; the generator writes each
// with temp+rename, so a read sees one whole version of it.
const (
	nodePayloadFile = "node.yaml"
	ignitionFile    = "ignition.json"
	userDataFile    = "user-data"
)

// maxPayloadFile bounds every file read from the tree. The generator keeps
// payloads within the clouds' 16 KiB user-data limit; megabytes mean
// something else is in the tree.
const maxPayloadFile = 4 << 20

// Node is one node directory of the out/ tree, read whole.
type Node struct {
	// Name is the directory's name under out/nodes/.
	Name    string
	Payload *spec.NodePayload
	// Ignition and UserData are the rendered payloads; nil when the node was
	// not rendered in that format.
	Ignition []byte
	UserData []byte
}

// Store reads the generator's out/ tree and an optional groups file into
// snapshots. It keeps nothing between loads.
type Store struct {
	// Dir is the generator's output directory.
	Dir string
	// GroupsFile is the groups file; empty means members' MACs only.
	GroupsFile string
	// FetchLimit is the default fetch budget of every machine; 0 is none.
	FetchLimit int
}

// Snapshot is one consistent, immutable view of the tree: the nodes and the
// machines that select them. Its contents are never modified after Load.
type Snapshot struct {
	nodes    map[string]*Node
	machines machineTable
	// fingerprint is what the tree looked like when it was read.
	fingerprint string
	// tlsMinVersion is the minimum TLS version --tls serves (see
	// treeTLSMinVersion).
	tlsMinVersion string
}

// Match returns the machine the labels select, or nil.
func (s *Snapshot) Match(l Labels) *Machine { return s.machines.match(l) }

// Node returns the named node, or nil.
func (s *Snapshot) Node(name string) *Node { return s.nodes[name] }

// Machines returns every machine, ordered by node, then selector.
func (s *Snapshot) Machines() []*Machine {
	out := make([]*Machine, 0, len(s.machines))
	for _, m := range s.machines {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *Machine) int {
		if c := strings.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return strings.Compare(a.Selector.String(), b.Selector.String())
	})
	return out
}

// errTreeChanged says files changed while a snapshot was being read.
var errTreeChanged = errors.New("files changed while being read; trying again")

// Load reads the whole tree into a new snapshot: every node's node.yaml
// (parsed and validated), ignition.json (checked to be JSON) and user-data
// (checked to be #cloud-config YAML or gzip), then the groups file. Any
// file that does not parse fails the load, so a half-written or broken tree
// never replaces a good snapshot.
func (st Store) Load() (*Snapshot, error) {
	before, err := st.fingerprint()
	if err != nil {
		return nil, err
	}
	nodesDir := filepath.Join(st.Dir, "nodes")
	entries, err := os.ReadDir(nodesDir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w; run etcdboot generate first, or point --dir at its output", nodesDir, err)
	}
	nodes := map[string]*Node{}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		n, err := readNode(filepath.Join(nodesDir, e.Name()), e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		nodes[n.Name] = n
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%s: no node directories; run etcdboot generate first", nodesDir)
	}
	var groups []Group
	if st.GroupsFile != "" {
		data, err := readLimited(st.GroupsFile)
		if err != nil {
			return nil, err
		}
		if groups, err = ParseGroups(st.GroupsFile, data); err != nil {
			return nil, err
		}
	}
	machines, err := buildMachines(nodes, groups, st.FetchLimit)
	if err != nil {
		return nil, err
	}
	after, err := st.fingerprint()
	if err != nil {
		return nil, err
	}
	if after != before {
		return nil, errTreeChanged
	}
	return &Snapshot{nodes: nodes, machines: machines, fingerprint: before, tlsMinVersion: treeTLSMinVersion(nodes)}, nil
}

// treeTLSMinVersion is the cluster's tls.minVersion as the tree's payloads
// carry it, which the payload server follows like every other port of the
// cluster: TLS1.2 when any payload allows it (payloads of one generator run
// agree; a mixed tree must not refuse the machines it serves), else TLS1.3.
func treeTLSMinVersion(nodes map[string]*Node) string {
	for _, n := range nodes {
		if spec.EffectiveTLSMinVersion(n.Payload.TLS.MinVersion) == spec.TLS12 {
			return spec.TLS12
		}
	}
	return spec.DefaultTLSMinVersion
}

// readNode reads one node directory.
func readNode(dir, name string) (*Node, error) {
	if !safeName(name) {
		return nil, fmt.Errorf("%s: node directory names are letters, digits, '.', '_' and '-'", dir)
	}
	n := &Node{Name: name}
	path := filepath.Join(dir, nodePayloadFile)
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	if n.Payload, err = spec.ParseNodePayload(path, data); err != nil {
		return nil, err
	}
	if n.Ignition, err = readOptional(filepath.Join(dir, ignitionFile)); err != nil {
		return nil, err
	}
	if n.Ignition != nil && !json.Valid(n.Ignition) {
		return nil, fmt.Errorf("%s: not valid JSON (truncated or corrupt); regenerate it", filepath.Join(dir, ignitionFile))
	}
	if n.UserData, err = readOptional(filepath.Join(dir, userDataFile)); err != nil {
		return nil, err
	}
	if n.UserData != nil {
		if err := checkUserData(n.UserData); err != nil {
			return nil, fmt.Errorf("%s: %w; regenerate it", filepath.Join(dir, userDataFile), err)
		}
	}
	if n.Ignition == nil && n.UserData == nil {
		return nil, fmt.Errorf("%s: neither %s nor %s; regenerate the tree", dir, ignitionFile, userDataFile)
	}
	return n, nil
}

// checkUserData accepts a #cloud-config document that parses as YAML, or a
// whole gzip stream (cloud-init accepts gzipped user-data).
func checkUserData(data []byte) error {
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		if _, err := io.Copy(io.Discard, io.LimitReader(zr, maxPayloadFile)); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		return nil
	}
	if !bytes.HasPrefix(data, []byte("#cloud-config")) {
		return errors.New("does not begin with #cloud-config")
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("not valid YAML: %w", err)
	}
	return nil
}

// safeName accepts names that can stand in a path, a log line and an iPXE
// comment as they are.
func safeName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPayloadFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxPayloadFile {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxPayloadFile)
	}
	return data, nil
}

// readOptional is readLimited where a missing file is nil, not an error.
func readOptional(path string) ([]byte, error) {
	data, err := readLimited(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// fingerprint describes the files a snapshot is made of (name, size,
// modification time): when it changes, the tree needs reading again. The
// generator's temp files (.name.tmp-*) are left out.
func (st Store) fingerprint() (string, error) {
	var b strings.Builder
	add := func(path string) error {
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("stat %s: %w", path, err)
		}
		fmt.Fprintf(&b, "%s\x00%d\x00%d\x00%o\n", path, fi.Size(), fi.ModTime().UnixNano(), fi.Mode())
		return nil
	}
	nodesDir := filepath.Join(st.Dir, "nodes")
	entries, err := os.ReadDir(nodesDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", nodesDir, err)
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		for _, f := range []string{nodePayloadFile, ignitionFile, userDataFile} {
			if err := add(filepath.Join(nodesDir, e.Name(), f)); err != nil {
				return "", err
			}
		}
	}
	if st.GroupsFile != "" {
		if err := add(st.GroupsFile); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}
