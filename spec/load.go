package spec

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds how many YAML nodes one document may expand to, so that an
// alias bomb is an error rather than an out-of-memory.
const maxNodes = 100000

// Document remembers where each field of a loaded file was written, so that
// validation can point at file:line:col.
type Document struct {
	File string
	// positions maps a field path ("members[1].ips[0]") to where its value is.
	positions map[string]Pos
}

// Pos is a place in a file.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Has reports whether path was written in the document.
func (d *Document) Has(path string) bool {
	if d == nil {
		return false
	}
	_, ok := d.positions[path]
	return ok
}

// At returns the position of field path, or of its nearest written parent.
func (d *Document) At(path string) Pos {
	if d == nil {
		return Pos{}
	}
	for p := path; ; {
		if pos, ok := d.positions[p]; ok {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			break
		}
		p = p[:i]
	}
	if pos, ok := d.positions[""]; ok {
		return pos
	}
	return Pos{File: d.File}
}

// LoadCluster reads, decodes and validates a cluster spec file. The returned
// Report holds every problem found; err is non-nil when the spec is unusable.
func LoadCluster(path string) (*Cluster, Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Report{}, fmt.Errorf("read cluster spec: %w", err)
	}
	return ParseCluster(path, data)
}

// ParseCluster decodes and validates a cluster spec held in memory; file names
// it in messages.
func ParseCluster(file string, data []byte) (*Cluster, Report, error) {
	var c Cluster
	doc, problems := decodeStrict(file, data, &c)
	rep := Report{Problems: problems}
	if rep.HasErrors() {
		return nil, rep, rep.Err()
	}
	c.ApplyDefaults()
	rep.Problems = append(rep.Problems, c.Validate(doc)...)
	rep.sort()
	if rep.HasErrors() {
		return nil, rep, rep.Err()
	}
	return &c, rep, nil
}

// LoadNodePayload reads, decodes and validates a node payload file.
func LoadNodePayload(path string) (*NodePayload, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read node payload: %w", err)
	}
	return ParseNodePayload(path, data)
}

// ParseNodePayload decodes and validates a node payload held in memory.
func ParseNodePayload(file string, data []byte) (*NodePayload, error) {
	var p NodePayload
	doc, problems := decodeStrict(file, data, &p)
	rep := Report{Problems: problems}
	if rep.HasErrors() {
		return nil, rep.Err()
	}
	rep.Problems = append(rep.Problems, p.Validate(doc)...)
	rep.sort()
	if rep.HasErrors() {
		return nil, rep.Err()
	}
	return &p, nil
}

// decodeStrict decodes data into out (a pointer to a struct) field by field,
// reporting unknown keys and type errors with their positions, all at once.
func decodeStrict(file string, data []byte, out any) (*Document, []Problem) {
	doc := &Document{File: file, positions: map[string]Pos{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return doc, []Problem{syntaxProblem(file, err)}
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return doc, []Problem{{Pos: Pos{File: file}, Message: "the file is empty; write a YAML mapping (see examples/)"}}
	}
	d := &decoder{doc: doc}
	d.decode(root.Content[0], reflect.ValueOf(out).Elem(), "")
	return doc, d.problems
}

// syntaxProblem turns a yaml.v3 syntax error ("yaml: line 3: ...") into a
// positioned problem.
func syntaxProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	return Problem{Pos: Pos{File: file, Line: line, Col: 1}, Message: "not valid YAML: " + msg + "; fix the syntax"}
}

type decoder struct {
	doc      *Document
	problems []Problem
	visited  int
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

func (d *decoder) addf(n *yaml.Node, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{
		Pos:     Pos{File: d.doc.File, Line: n.Line, Col: n.Column},
		Field:   path,
		Message: fmt.Sprintf(format, args...),
	})
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	d.visited++
	if d.visited > maxNodes {
		if d.visited == maxNodes+1 {
			d.addf(n, path, "document expands to more than %d nodes; remove alias expansion", maxNodes)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.addf(n, path, "unresolved alias")
			return
		}
		d.decode(n.Alias, v, path)
		return
	}
	d.doc.positions[path] = Pos{File: d.doc.File, Line: n.Line, Col: n.Column}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // leave the zero value, like yaml.v3 does
	}
	if v.Kind() == reflect.Pointer && !v.Type().Implements(unmarshalerType) {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.addf(n, path, "%s", cleanDecodeError(err))
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.addf(n, path, "want a list, got %s; write it as a YAML list (- item)", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	default:
		if n.Kind != yaml.ScalarNode {
			d.addf(n, path, "want a %s, got %s", kindName(v.Kind()), describe(n))
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.addf(n, path, "want a %s, got %q", kindName(v.Kind()), n.Value)
		}
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.addf(n, path, "want a mapping of keys, got %s", describe(n))
		return
	}
	fields := structFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Value == "<<" && key.Tag == "!!merge" {
			d.addf(key, path, "merge keys (<<) are not supported; write the fields out")
			continue
		}
		child := joinPath(path, key.Value)
		idx, ok := fields[key.Value]
		if !ok {
			d.addf(key, child, "unknown key%s; valid keys here: %s", suggest(key.Value, fields), strings.Join(sortedKeys(fields), ", "))
			continue
		}
		if seen[key.Value] {
			d.addf(key, child, "key written twice; keep one")
			continue
		}
		seen[key.Value] = true
		d.decode(val, v.Field(idx), child)
		if val.Kind == yaml.MappingNode || val.Kind == yaml.SequenceNode {
			// A block's problems point at its key, which is where people look.
			d.doc.positions[child] = Pos{File: d.doc.File, Line: key.Line, Col: key.Column}
		}
	}
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// structFields maps each yaml key of t to its field index.
func structFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	return m
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// suggest names the closest valid key when the written one looks like a typo.
func suggest(got string, fields map[string]int) string {
	best, bestDist := "", 3
	for k := range fields {
		if dist := editDistance(strings.ToLower(got), strings.ToLower(k)); dist < bestDist || (dist == bestDist && k < best) {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole number of at least 0"
	}
	return k.String()
}

// cleanDecodeError strips yaml.v3's wrapping from a custom unmarshaler error.
func cleanDecodeError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return te.Errors[0]
	}
	return err.Error()
}
