package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// aptSource is one "deb" source of the host's apt configuration.
type aptSource struct {
	URIs   []string
	Suites []string
}

// HostMirror returns the URI of the first apt source under root (normally
// "/") that serves suite. mmdebstrap's built-in default mirror may not be
// reachable where the host's is, so the host's wins.
func HostMirror(root, suite string) (string, error) {
	var files []string
	for _, pattern := range []string{"etc/apt/sources.list.d/*.sources", "etc/apt/sources.list", "etc/apt/sources.list.d/*.list"} {
		m, _ := filepath.Glob(filepath.Join(root, pattern))
		files = append(files, m...)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return "", fmt.Errorf("read apt sources: %w", err)
		}
		var sources []aptSource
		if strings.HasSuffix(f, ".sources") {
			sources = parseDeb822(string(data))
		} else {
			sources = parseOneLine(string(data))
		}
		for _, s := range sources {
			if slices.Contains(s.Suites, suite) && len(s.URIs) > 0 {
				return s.URIs[0], nil
			}
		}
	}
	return "", fmt.Errorf("no apt source of this host serves suite %q (read %s); set mirror to a Debian mirror URI such as http://deb.debian.org/debian",
		suite, strings.Join(append([]string{}, files...), ", "))
}

// parseDeb822 reads the "deb" stanzas of a deb822 .sources file.
func parseDeb822(text string) []aptSource {
	var out []aptSource
	for _, stanza := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		fields := map[string]string{}
		last := ""
		for _, line := range strings.Split(stanza, "\n") {
			switch {
			case strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "":
			case line[0] == ' ' || line[0] == '\t':
				if last != "" {
					fields[last] += " " + strings.TrimSpace(line)
				}
			default:
				k, v, ok := strings.Cut(line, ":")
				if !ok {
					continue
				}
				last = strings.ToLower(strings.TrimSpace(k))
				fields[last] = strings.TrimSpace(v)
			}
		}
		if !slices.Contains(strings.Fields(fields["types"]), "deb") || strings.EqualFold(fields["enabled"], "no") {
			continue
		}
		out = append(out, aptSource{URIs: strings.Fields(fields["uris"]), Suites: strings.Fields(fields["suites"])})
	}
	return out
}

// parseOneLine reads the "deb" lines of a one-line-style sources.list.
func parseOneLine(text string) []aptSource {
	var out []aptSource
	for _, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			// Options: "[arch=amd64 signed-by=...]", possibly several fields.
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) < 2 {
			continue
		}
		out = append(out, aptSource{URIs: []string{f[0]}, Suites: []string{f[1]}})
	}
	return out
}
