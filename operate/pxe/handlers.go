package pxe

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Bodies of refusals. Unknown machines all get the same one, whatever
// identifier they were asked by, so that probing tells nothing.
const (
	notFoundBody = "no machine matches this request"
	noLabelsBody = "name the machine: ?mac=, ?uuid= or ?hostname="
	forbidBody   = "forbidden"
	goneBody     = "this payload has been fetched as often as allowed; the operator must re-arm it"
	failedBody   = "cannot record this fetch; the payload is not served"
)

// Content types of what is served.
const (
	typeText     = "text/plain; charset=utf-8"
	typeIPXE     = "text/plain; charset=utf-8"
	typeIgnition = "application/vnd.coreos.ignition+json"
	typeYAML     = "text/yaml; charset=utf-8"
)

// Payload kinds, as the fetch log names them.
const (
	kindIgnition = "ignition"
	kindUserData = "user-data"
)

// assetWriteTimeout replaces the write timeout for /assets/: a live root
// file system is hundreds of megabytes.
const assetWriteTimeout = 30 * time.Minute

// routes maps the URL space. GET patterns also answer HEAD; any other
// method gets 405 with an Allow header from the mux.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /boot.ipxe", s.handleBootScript)
	mux.HandleFunc("GET /ipxe", s.handleScript)
	mux.HandleFunc("GET /ignition", s.handleIgnition)
	mux.HandleFunc("GET /metadata", s.handleMetadata)
	mux.HandleFunc("GET /cloud-init/{id}/user-data", s.handleUserData)
	mux.HandleFunc("GET /cloud-init/{id}/meta-data", s.handleMetaData)
	mux.HandleFunc("GET /cloud-init/{id}/vendor-data", s.handleVendorData)
	if s.cfg.AssetsDir != "" {
		mux.Handle("GET /assets/", s.assetsHandler())
	}
	return s.accessLog(mux)
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeBody(w, r, typeText, []byte("ok\n"))
}

func (s *Server) handleBootScript(w http.ResponseWriter, r *http.Request) {
	writeBody(w, r, typeIPXE, []byte(BootScript))
}

func (s *Server) handleScript(w http.ResponseWriter, r *http.Request) {
	l, err := queryLabels(r.URL.Query())
	_, m := s.machineFor(w, r, l, err, "")
	if m == nil {
		return
	}
	script, err := Script(m, s.baseURL)
	if err != nil {
		s.log.Error("render iPXE script", "machine", m.Node, "err", err)
		http.Error(w, "cannot render this machine's boot script", http.StatusInternalServerError)
		return
	}
	writeBody(w, r, typeIPXE, []byte(script))
}

func (s *Server) handleIgnition(w http.ResponseWriter, r *http.Request) {
	l, err := queryLabels(r.URL.Query())
	snap, m := s.machineFor(w, r, l, err, kindIgnition)
	if m == nil {
		return
	}
	s.servePayload(w, r, m, kindIgnition, snap.Node(m.Node), typeIgnition)
}

func (s *Server) handleUserData(w http.ResponseWriter, r *http.Request) {
	l, err := ParsePathLabel(r.PathValue("id"))
	snap, m := s.machineFor(w, r, l, err, kindUserData)
	if m == nil {
		return
	}
	s.servePayload(w, r, m, kindUserData, snap.Node(m.Node), typeText)
}

// metaData is NoCloud's meta-data document.
type metaData struct {
	InstanceID    string `yaml:"instance-id"`
	LocalHostname string `yaml:"local-hostname,omitempty"`
}

func (s *Server) handleMetaData(w http.ResponseWriter, r *http.Request) {
	l, err := ParsePathLabel(r.PathValue("id"))
	snap, m := s.machineFor(w, r, l, err, "")
	if m == nil {
		return
	}
	n := snap.Node(m.Node)
	md := metaData{InstanceID: n.Payload.Cluster + "-" + n.Name}
	if n.Payload.Node != nil {
		md.LocalHostname = n.Payload.Node.Name
	}
	body, err := yaml.Marshal(md)
	if err != nil {
		http.Error(w, "cannot render meta-data", http.StatusInternalServerError)
		return
	}
	writeBody(w, r, typeYAML, body)
}

func (s *Server) handleVendorData(w http.ResponseWriter, r *http.Request) {
	l, err := ParsePathLabel(r.PathValue("id"))
	if _, m := s.machineFor(w, r, l, err, ""); m == nil {
		return
	}
	writeBody(w, r, typeYAML, []byte("#cloud-config\n"))
}

// handleMetadata answers matchbox-style KEY=value lines, usable as a
// systemd EnvironmentFile: who the machine is, never a secret.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	l, err := queryLabels(r.URL.Query())
	snap, m := s.machineFor(w, r, l, err, "")
	if m == nil {
		return
	}
	n := snap.Node(m.Node)
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			b.WriteString(k + "=" + strings.Map(dropControl, v) + "\n")
		}
	}
	line("NAME", n.Name)
	line("CLUSTER", n.Payload.Cluster)
	if n.Payload.Node != nil {
		line("IPS", strings.Join(n.Payload.Node.IPs, ","))
		line("FQDN", n.Payload.Node.FQDN)
	}
	line(strings.ToUpper(string(m.Selector.Key)), m.Selector.Value)
	line("OS", m.Profile.OS)
	line("FORMAT", m.Profile.Format)
	writeBody(w, r, typeText, []byte(b.String()))
}

func dropControl(r rune) rune {
	if r < ' ' || r == 0x7f {
		return -1
	}
	return r
}

// queryLabels reads mac, uuid and hostname from a query; each at most once.
func queryLabels(q url.Values) (Labels, error) {
	for _, k := range []SelectorKey{KeyMAC, KeyUUID, KeyHostname} {
		if len(q[string(k)]) > 1 {
			return Labels{}, fmt.Errorf("%w: %s given more than once", ErrBadSelector, k)
		}
	}
	return ParseLabels(q.Get(string(KeyMAC)), q.Get(string(KeyUUID)), q.Get(string(KeyHostname)))
}

// machineFor resolves the machine a request names and checks the request's
// source against its allowlist. When the request cannot be answered it
// writes the refusal (400, 404 or 403) and returns a nil machine. The
// snapshot returned is the one the machine was found in: read its node from
// there, not from a snapshot swapped in since. payload names the payload kind
// for the fetch log; "" for routes that serve no secret.
func (s *Server) machineFor(w http.ResponseWriter, r *http.Request, l Labels, labelErr error, payload string) (*Snapshot, *Machine) {
	info := infoFrom(r)
	refuse := func(status int, body, outcome string, m *Machine) {
		if payload != "" {
			s.logFetch(r, payload, m, outcome)
		}
		http.Error(w, body, status)
	}
	if labelErr != nil {
		refuse(http.StatusBadRequest, labelErr.Error(), "bad-request", nil)
		return nil, nil
	}
	if l.Empty() {
		refuse(http.StatusBadRequest, noLabelsBody, "bad-request", nil)
		return nil, nil
	}
	info.selector = selectorsString(l.Selectors())
	snap := s.Snapshot()
	m := snap.Match(l)
	if m == nil {
		refuse(http.StatusNotFound, notFoundBody, "unknown-machine", nil)
		return nil, nil
	}
	info.selector, info.machine = m.Selector.String(), m.Node
	if !m.Allows(remoteAddr(r)) {
		if payload == "" { // payload routes log it as a fetch
			s.log.Warn("request refused: source address not allowed for this machine",
				"machine", m.Node, "selector", m.Selector.String(), "remote", r.RemoteAddr, "path", r.URL.Path)
		}
		refuse(http.StatusForbidden, forbidBody, "forbidden", m)
		return nil, nil
	}
	return snap, m
}

// servePayload sends one of a node's payloads, counting it against the
// machine's fetch budget first. HEAD answers what GET would, headers only,
// and counts nothing.
func (s *Server) servePayload(w http.ResponseWriter, r *http.Request, m *Machine, kind string, n *Node, contentType string) {
	var body []byte
	if n != nil {
		switch kind {
		case kindIgnition:
			body = n.Ignition
		case kindUserData:
			body = n.UserData
		}
	}
	if body == nil {
		s.logFetch(r, kind, m, "no-payload")
		http.Error(w, notFoundBody, http.StatusNotFound)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		if !s.budget.allows(m.Node, m.FetchLimit) {
			http.Error(w, goneBody, http.StatusGone)
			return
		}
		writeBody(w, r, contentType, body)
		return
	}
	left, err := s.budget.take(m.Node, m.FetchLimit)
	switch {
	case errors.Is(err, ErrBudgetExhausted):
		s.logFetch(r, kind, m, "budget-exhausted", slog.Int("fetch_limit", m.FetchLimit))
		http.Error(w, goneBody, http.StatusGone)
		return
	case err != nil:
		s.log.Error("payload fetch: cannot persist the fetch counter; not serving", "machine", m.Node, "err", err)
		s.logFetch(r, kind, m, "error")
		http.Error(w, failedBody, http.StatusInternalServerError)
		return
	}
	writeBody(w, r, contentType, body)
	attrs := []slog.Attr{}
	if m.FetchLimit > 0 {
		attrs = append(attrs, slog.Int("fetches_left", left))
	}
	s.logFetch(r, kind, m, "served", attrs...)
}

// logFetch records the outcome of one payload request: info when served,
// warn when refused.
func (s *Server) logFetch(r *http.Request, kind string, m *Machine, outcome string, extra ...slog.Attr) {
	level := slog.LevelWarn
	if outcome == "served" {
		level = slog.LevelInfo
	}
	attrs := []slog.Attr{
		slog.String("payload", kind),
		slog.String("outcome", outcome),
		slog.String("remote", r.RemoteAddr),
	}
	if m != nil {
		attrs = append(attrs, slog.String("machine", m.Node), slog.String("selector", m.Selector.String()))
	} else {
		attrs = append(attrs, slog.String("selector", infoFrom(r).selector))
	}
	s.log.LogAttrs(r.Context(), level, "payload fetch", append(attrs, extra...)...)
}

// assetsHandler serves AssetsDir at /assets/: files only (no listings),
// never anything outside the directory (symlinks included), and with a
// write timeout long enough for a root file system.
func (s *Server) assetsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		root, err := os.OpenRoot(s.cfg.AssetsDir)
		if err != nil {
			s.log.Error("open assets directory", "err", err)
			http.Error(w, "assets unavailable", http.StatusInternalServerError)
			return
		}
		defer root.Close()
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(assetWriteTimeout))
		http.StripPrefix("/assets", http.FileServerFS(filesOnly{root.FS()})).ServeHTTP(w, r)
	})
}

// filesOnly hides directories, so that the file server lists nothing, and
// turns every failure to open (a symlink out of the root included) into
// "not found".
type filesOnly struct{ fsys fs.FS }

func (f filesOnly) Open(name string) (fs.File, error) {
	file, err := f.fsys.Open(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if fi, err := file.Stat(); err != nil || fi.IsDir() {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return file, nil
}

// writeBody answers 200 with body and its exact length; for HEAD the same
// headers without the body.
func writeBody(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// remoteAddr is the request's source address; the zero Addr (allowed by no
// allowlist) when it cannot be parsed. Forwarding headers are not trusted:
// the allowlist is about the machine's own address.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func selectorsString(sels []Selector) string {
	parts := make([]string, len(sels))
	for i, s := range sels {
		parts[i] = s.String()
	}
	return strings.Join(parts, ",")
}
