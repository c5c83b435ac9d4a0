package ignition

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// gzipBytes compresses b at the best level with an empty gzip header (no
// name, no modification time), so the same input always gives the same bytes.
func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}

// plainText reports whether b can travel as a YAML string and come back
// byte for byte: valid UTF-8 of printable characters, spaces, tabs and
// newlines. Carriage returns are excluded because YAML folds line breaks.
func plainText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r != '\n' && r != '\t' && !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// dataURL encodes contents that cannot be inlined as text for Ignition: a
// base64 data URL, of the gzipped bytes when that is smaller. It mirrors what
// Butane does for inline contents.
func dataURL(contents []byte) (source, compression string, err error) {
	source = "data:;base64," + base64.StdEncoding.EncodeToString(contents)
	gz, err := gzipBytes(contents)
	if err != nil {
		return "", "", err
	}
	if zs := "data:;base64," + base64.StdEncoding.EncodeToString(gz); len(zs)+len("gzip") < len(source) {
		return zs, "gzip", nil
	}
	return source, "", nil
}
