// Package api serves the Docker Engine API over the kernel's services.
//
// The handlers see the kernel only through the narrow interfaces in
// services.go. Every route is served with and without a /vX.Y prefix;
// object names run from a route's prefix to its suffix and may contain '/'
// and ':' (image references), which Go's ServeMux wildcards cannot match.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/sdk/errdefs"
)

const (
	// DefaultAPIVersion is the highest API version served and the one an
	// unversioned request gets.
	DefaultAPIVersion = "1.43"
	// MinAPIVersion is the lowest API version served.
	MinAPIVersion = "1.24"
)

// Config configures the API server; zero fields get defaults.
type Config struct {
	// Version is Berth's version, shown in /version and the Server header.
	Version   string
	GitCommit string
	// DefaultAPIVersion and MinAPIVersion bound the served API versions.
	DefaultAPIVersion string
	MinAPIVersion     string
	Logger            *slog.Logger
	// Observe, when set, is called after every request with the route
	// pattern (not the concrete path, to keep metric cardinality low), the
	// status code and the duration.
	Observe func(route string, status int, d time.Duration)
}

// Server is the http.Handler of the Docker Engine API.
type Server struct {
	svc    Services
	cfg    Config
	routes []route
}

// route is one endpoint: an exact path, or a name between prefix and suffix.
type route struct {
	method         string
	prefix, suffix string
	exact          bool
	pattern        string
	handle         handlerFunc
}

// handlerFunc handles a request; name is the object name from the path. A
// returned error is written as an API error unless the handler already
// wrote a response.
type handlerFunc func(w http.ResponseWriter, r *http.Request, name string) error

// New returns the API server over svc.
func New(svc Services, cfg Config) *Server {
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.DefaultAPIVersion == "" {
		cfg.DefaultAPIVersion = DefaultAPIVersion
	}
	if cfg.MinAPIVersion == "" {
		cfg.MinAPIVersion = MinAPIVersion
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{svc: svc, cfg: cfg}
	s.register()
	return s
}

// register lists the routes; exact paths come before name patterns that
// could also match them (GET /containers/json vs /containers/{name}/json).
func (s *Server) register() {
	s.exact("HEAD", "/_ping", s.ping)
	s.exact("GET", "/_ping", s.ping)
	s.exact("GET", "/version", s.version)
	s.exact("GET", "/info", s.info)
	s.exact("GET", "/events", s.events)

	s.exact("POST", "/containers/create", s.containerCreate)
	s.exact("GET", "/containers/json", s.containerList)
	s.named("GET", "/containers/", "/json", s.containerInspect)
	s.named("POST", "/containers/", "/start", s.containerStart)
	s.named("POST", "/containers/", "/stop", s.containerStop)
	s.named("POST", "/containers/", "/restart", s.containerRestart)
	s.named("POST", "/containers/", "/kill", s.containerKill)
	s.named("POST", "/containers/", "/wait", s.containerWait)
	s.named("POST", "/containers/", "/attach", s.containerAttach)
	s.named("POST", "/containers/", "/resize", s.containerResize)
	s.named("POST", "/containers/", "/pause", s.containerPause)
	s.named("POST", "/containers/", "/unpause", s.containerUnpause)
	s.named("DELETE", "/containers/", "", s.containerRemove)

	s.exact("POST", "/images/create", s.imageCreate)
	s.exact("GET", "/images/json", s.imageList)
	s.named("GET", "/images/", "/json", s.imageInspect)
	s.named("DELETE", "/images/", "", s.imageDelete)
}

func (s *Server) exact(method, path string, h handlerFunc) {
	s.routes = append(s.routes, route{method: method, prefix: path, exact: true, pattern: path, handle: h})
}

func (s *Server) named(method, prefix, suffix string, h handlerFunc) {
	s.routes = append(s.routes, route{method: method, prefix: prefix, suffix: suffix,
		pattern: prefix + "{name}" + suffix, handle: h})
}

// match finds the route for method and path (without version prefix).
func (s *Server) match(method, path string) (*route, string) {
	for i := range s.routes {
		rt := &s.routes[i]
		if rt.method != method {
			continue
		}
		if rt.exact {
			if path == rt.prefix {
				return rt, ""
			}
			continue
		}
		if len(path) > len(rt.prefix)+len(rt.suffix) && strings.HasPrefix(path, rt.prefix) && strings.HasSuffix(path, rt.suffix) {
			return rt, path[len(rt.prefix) : len(path)-len(rt.suffix)]
		}
	}
	return nil, ""
}

var versionedPath = regexp.MustCompile(`^/v([0-9.]+)(/.*)$`)

type versionKey struct{}

// apiVersion returns the API version the request was made with.
func apiVersion(ctx context.Context) string {
	v, _ := ctx.Value(versionKey{}).(string)
	return v
}

// ServeHTTP routes r, applying the version rules and common headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	h := w.Header()
	// The docker client reads the OS type from `^Docker/.+\s\((.+)\)$`
	// (docker stats), so the product token must stay "Docker/"; the
	// version part names Berth so logs and humans can tell it apart.
	h.Set("Server", "Docker/berth-"+s.cfg.Version+" (linux)")
	h.Set("Api-Version", s.cfg.DefaultAPIVersion)
	h.Set("Ostype", "linux")
	h.Set("Docker-Experimental", "false")

	path, version := r.URL.Path, s.cfg.DefaultAPIVersion
	if m := versionedPath.FindStringSubmatch(path); m != nil {
		version, path = m[1], m[2]
	}
	rt, name := s.match(r.Method, path)
	pattern := "unknown"
	if rt != nil {
		pattern = rt.pattern
	}
	defer func() {
		if s.cfg.Observe != nil {
			s.cfg.Observe(pattern, rec.statusCode(), time.Since(start))
		}
		s.cfg.Logger.Debug("api request", "method", r.Method, "path", r.URL.Path, "status", rec.statusCode(), "duration", time.Since(start))
	}()
	if err := s.checkVersion(version); err != nil {
		writeError(rec, err)
		return
	}
	if rt == nil {
		writeError(rec, &classified{msg: "page not found", class: errdefs.ErrNotFound})
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), versionKey{}, version))
	if err := rt.handle(rec, r, name); err != nil {
		if rec.status != 0 || rec.hijacked {
			s.cfg.Logger.Warn("api error after response started", "path", r.URL.Path, "err", err)
			return
		}
		if StatusOf(err) == http.StatusInternalServerError {
			s.cfg.Logger.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		writeError(rec, err)
	}
}

// checkVersion applies dockerd's version bounds and messages.
func (s *Server) checkVersion(v string) error {
	if versionLess(s.cfg.DefaultAPIVersion, v) {
		return invalid(fmt.Sprintf("client version %s is too new. Maximum supported API version is %s", v, s.cfg.DefaultAPIVersion))
	}
	if versionLess(v, s.cfg.MinAPIVersion) {
		return invalid(fmt.Sprintf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, s.cfg.MinAPIVersion))
	}
	return nil
}

// versionLess compares dotted API versions numerically ("1.5" < "1.43").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// recorder remembers whether and with which status a response started.
type recorder struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) statusCode() int {
	if r.hijacked && r.status == 0 {
		return http.StatusSwitchingProtocols
	}
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}
