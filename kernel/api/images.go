package api

import (
	"net/http"

	kevents "github.com/berth-dev/berth/kernel/events"
	"github.com/moby/moby/api/types/registry"
)

func (s *Server) images() (Images, error) {
	if s.svc.Images == nil {
		return nil, unimplemented("images")
	}
	return s.svc.Images, nil
}

// imageCreate is POST /images/create: a pull (fromImage) or an import
// (fromSrc=-, the request body). Progress streams as JSON lines.
func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request, _ string) error {
	im, err := s.images()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	pw := &progressWriter{w: w}
	switch {
	case q.Get("fromImage") != "":
		err = im.Pull(r.Context(), q.Get("fromImage"), q.Get("tag"), q.Get("platform"), r.Header.Get(registry.AuthHeader), pw)
	case q.Get("fromSrc") == "-":
		err = im.Import(r.Context(), r.Body, q.Get("repo"), q.Get("tag"), q["changes"], pw)
	case q.Get("fromSrc") != "":
		return unimplemented("importing from a URL")
	default:
		return invalid("either fromImage or fromSrc is required")
	}
	return pw.finish(err)
}

func (s *Server) imageList(w http.ResponseWriter, r *http.Request, _ string) error {
	im, err := s.images()
	if err != nil {
		return err
	}
	f, err := kevents.ParseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	if err := f.Validate("before", "dangling", "label", "reference", "since", "until"); err != nil {
		return err
	}
	list, err := im.List(r.Context(), ImageListOptions{All: boolValue(r, "all"), Filters: f})
	if err != nil {
		return err
	}
	if list == nil {
		writeJSON(w, http.StatusOK, []struct{}{})
		return nil
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) imageInspect(w http.ResponseWriter, r *http.Request, name string) error {
	im, err := s.images()
	if err != nil {
		return err
	}
	resp, err := im.Inspect(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) imageDelete(w http.ResponseWriter, r *http.Request, name string) error {
	im, err := s.images()
	if err != nil {
		return err
	}
	resp, err := im.Delete(r.Context(), name, boolValue(r, "force"), !boolValue(r, "noprune"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
