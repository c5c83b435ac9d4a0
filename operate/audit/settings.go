package audit

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Settings are the etcd settings a configuration file holds, by flag name
// ("cert-file", "peer-client-cert-auth"), the way etcd reads them.
type Settings struct {
	values map[string]setting
	// yaml is true for a config file, false for an environment file.
	yaml bool
}

type setting struct {
	value string
	// name is how the file spells it: ETCD_CERT_FILE or
	// client-transport-security.cert-file.
	name string
}

// Get returns the value of flag and whether the file sets it.
func (s Settings) Get(flag string) (string, bool) {
	v, ok := s.values[flag]
	return v.value, ok
}

// Bool returns flag as etcd parses a boolean (strconv.ParseBool), false when
// unset; ok is false when it is set to something that is not a boolean.
func (s Settings) Bool(flag string) (value, ok bool) {
	v, set := s.values[flag]
	if !set {
		return false, true
	}
	b, err := strconv.ParseBool(v.value)
	return b, err == nil
}

// show renders flag as the file spells it, for findings: NAME=value, or
// "NAME unset".
func (s Settings) show(flag string) string {
	if v, ok := s.values[flag]; ok {
		return v.name + "=" + v.value
	}
	return s.nameOf(flag) + " unset"
}

// nameOf is how the file would spell flag.
func (s Settings) nameOf(flag string) string {
	if s.yaml {
		if p, ok := yamlName[flag]; ok {
			return p
		}
		return flag
	}
	return envName(flag)
}

// envName is the environment variable etcd reads for a flag.
func envName(flag string) string {
	return "ETCD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// ParseEnv reads an environment file the way systemd's EnvironmentFile= and
// then etcd read it: KEY=VALUE lines, # comments, optional quotes, the last
// assignment winning; ETCD_<FLAG> sets --<flag>.
func ParseEnv(data []byte) (Settings, error) {
	s := Settings{values: map[string]setting{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return s, fmt.Errorf("line %d: %q is not KEY=VALUE", n, line)
		}
		key = strings.TrimSpace(key)
		value = unquote(strings.TrimSpace(value))
		if !strings.HasPrefix(key, "ETCD_") {
			continue
		}
		flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(key, "ETCD_"), "_", "-"))
		s.values[flag] = setting{value: value, name: key}
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("read environment file: %w", err)
	}
	return s, nil
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// yamlTransport maps the keys of etcd's client-transport-security and
// peer-transport-security blocks to flag names.
var yamlTransport = map[string]map[string]string{
	"client-transport-security": {
		"cert-file": "cert-file", "key-file": "key-file", "trusted-ca-file": "trusted-ca-file",
		"client-cert-auth": "client-cert-auth", "auto-tls": "auto-tls",
	},
	"peer-transport-security": {
		"cert-file": "peer-cert-file", "key-file": "peer-key-file", "trusted-ca-file": "peer-trusted-ca-file",
		"client-cert-auth": "peer-client-cert-auth", "auto-tls": "peer-auto-tls",
	},
}

// yamlName is the dotted YAML path of each transport flag.
var yamlName = func() map[string]string {
	m := map[string]string{}
	for block, keys := range yamlTransport {
		for key, flag := range keys {
			m[flag] = block + "." + key
		}
	}
	return m
}()

// ParseYAML reads an etcd --config-file document: top-level keys are flag
// names, TLS settings live in the two transport-security blocks.
func ParseYAML(data []byte) (Settings, error) {
	s := Settings{values: map[string]setting{}, yaml: true}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return s, fmt.Errorf("parse etcd config file: %w", err)
	}
	for key, v := range doc {
		block, nested := yamlTransport[key]
		if !nested {
			if _, isMap := v.(map[string]any); !isMap {
				s.values[key] = setting{value: scalar(v), name: key}
			}
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return s, fmt.Errorf("parse etcd config file: %s is not a mapping", key)
		}
		for k, val := range m {
			if flag, ok := block[k]; ok {
				s.values[flag] = setting{value: scalar(val), name: key + "." + k}
			}
		}
	}
	return s, nil
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}
