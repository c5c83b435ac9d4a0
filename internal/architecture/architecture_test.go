package architecture

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/etcdboot/etcdboot"

// The binaries whose links the table's "linked by" column names.
var binaries = map[string]string{
	"etcdboot":       "./cmd/etcdboot",
	"etcdboot-agent": "./cmd/etcdboot-agent",
}

// forbiddenInOperatorCLI are imports etcdboot must never link: the node's
// firewall library.
var forbiddenInOperatorCLI = []string{"github.com/google/nftables"}

// row is one package of the layer table.
type row struct {
	line     int
	pkg      string // relative to the module, e.g. "internal/status"
	layer    int
	side     string // shared, node, operator or test
	linkedBy string // both, etcdboot, etcdboot-agent or none
}

// readLayers parses the table that follows the layers marker in
// docs/architecture.md.
func readLayers(path string) (map[string]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows := map[string]row{}
	sc := bufio.NewScanner(f)
	inTable, n := false, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "<!-- layers:") {
			inTable = true
			continue
		}
		if !inTable {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if len(rows) > 0 {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) != 5 || cells[0] == "layer" || strings.HasPrefix(cells[0], "-") {
			continue
		}
		layer, err := strconv.Atoi(cells[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: layer %q is not a number", path, n, cells[0])
		}
		r := row{line: n, pkg: strings.Trim(cells[1], "`"), layer: layer, side: cells[2], linkedBy: cells[3]}
		if !slices.Contains([]string{"shared", "node", "operator", "test"}, r.side) {
			return nil, fmt.Errorf("%s:%d: side %q: want shared, node, operator or test", path, n, r.side)
		}
		if !slices.Contains([]string{"both", "etcdboot", "etcdboot-agent", "none"}, r.linkedBy) {
			return nil, fmt.Errorf("%s:%d: linked by %q: want both, etcdboot, etcdboot-agent or none", path, n, r.linkedBy)
		}
		if _, dup := rows[r.pkg]; dup {
			return nil, fmt.Errorf("%s:%d: %s listed twice", path, n, r.pkg)
		}
		rows[r.pkg] = r
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no layer table after the <!-- layers: --> marker", path)
	}
	return rows, nil
}

// goPackage is what the test needs of `go list -json`.
type goPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func goList(t *testing.T, root string, args ...string) []goPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

// local turns an import path of this module into the table's name; ok is
// false for other modules' packages.
func local(importPath string) (string, bool) {
	rel, ok := strings.CutPrefix(importPath, module+"/")
	return rel, ok
}

// exempt packages are outside the layering: tests and this package.
func exempt(pkg string) bool {
	return pkg == "e2e" || strings.HasPrefix(pkg, "e2e/") || pkg == "internal/architecture"
}

func TestImportsFollowTheLayerTable(t *testing.T) {
	root := moduleRoot(t)
	doc := filepath.Join(root, "docs", "architecture.md")
	rows, err := readLayers(doc)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range goList(t, root, "./...") {
		pkg, _ := local(p.ImportPath)
		if exempt(pkg) {
			continue
		}
		seen[pkg] = true
		from, ok := rows[pkg]
		if !ok {
			t.Errorf("%s: package %s is not in the layer table; add a row (layer, side, linked by, what it owns)", doc, pkg)
			continue
		}
		for _, imp := range p.Imports {
			dep, ok := local(imp)
			if !ok {
				continue
			}
			to, ok := rows[dep]
			if !ok {
				continue // reported as missing above
			}
			if to.layer >= from.layer {
				t.Errorf("%s imports %s: layer %d may import only lower layers, %s is layer %d (%s:%d)", pkg, dep, from.layer, dep, to.layer, doc, to.line)
			}
			if (from.side == "node" && to.side == "operator") || (from.side == "operator" && to.side == "node") || (from.side != "test" && to.side == "test") {
				t.Errorf("%s (%s) imports %s (%s): a %s package must not depend on a %s one", pkg, from.side, dep, to.side, from.side, to.side)
			}
		}
	}
	for pkg, r := range rows {
		if !seen[pkg] {
			t.Errorf("%s:%d: %s is in the layer table but no such package exists", doc, r.line, pkg)
		}
	}

	linked := map[string][]string{} // package -> binaries linking it
	for _, name := range []string{"etcdboot", "etcdboot-agent"} {
		pkgs := goList(t, root, "-deps", binaries[name])
		for _, p := range pkgs {
			if pkg, ok := local(p.ImportPath); ok {
				linked[pkg] = append(linked[pkg], name)
			}
		}
	}
	for pkg, r := range rows {
		want := "none"
		switch bins := linked[pkg]; len(bins) {
		case 2:
			want = "both"
		case 1:
			want = bins[0]
		}
		if r.linkedBy != want {
			t.Errorf("%s:%d: %s is linked by %s, the table says %s", doc, r.line, pkg, want, r.linkedBy)
		}
	}
}

func TestOperatorCLILinksNoNodeCode(t *testing.T) {
	root := moduleRoot(t)
	rows, err := readLayers(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range goList(t, root, "-deps", binaries["etcdboot"]) {
		for _, bad := range forbiddenInOperatorCLI {
			if p.ImportPath == bad || strings.HasPrefix(p.ImportPath, bad+"/") {
				t.Errorf("etcdboot links %s: the node's firewall library belongs to etcdboot-agent only", p.ImportPath)
			}
		}
		if pkg, ok := local(p.ImportPath); ok {
			if pkg == "bootstrap" || strings.HasPrefix(pkg, "bootstrap/") || rows[pkg].side == "node" {
				t.Errorf("etcdboot links the agent's package %s", pkg)
			}
		}
	}
}
