package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

const (
	// maxJSONBody bounds a JSON request body; a create request with a
	// huge environment is still far below it.
	maxJSONBody = 4 << 20
	// maxJSONDepth bounds nesting; real requests stay below 10 levels and
	// a deep body would otherwise cost stack and time in the decoder.
	maxJSONDepth = 64
)

// writeJSON writes v with status and the exact Content-Type the docker
// client compares against.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers err as dockerd does: {"message": ...} with its class's
// status, or an empty 304.
func writeError(w http.ResponseWriter, err error) {
	status := StatusOf(err)
	if status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, struct {
		Message string `json:"message"`
	}{messageOf(err)})
}

// flush sends what was written so far, headers included.
func flush(w http.ResponseWriter) {
	_ = http.NewResponseController(w).Flush()
}

// boolValue reads a query boolean as dockerd does: false iff the value is
// "", "0", "no", "false" or "none" (case-insensitive, trimmed).
func boolValue(r *http.Request, key string) bool {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(key))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// intValue reads an optional integer query parameter; absent gives def.
func intValue(r *http.Request, key string, def int) (int, error) {
	s := r.URL.Query().Get(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, invalid(fmt.Sprintf("invalid value for %s: %q", key, s))
	}
	return n, nil
}

// readJSON decodes the request body into v. An empty body leaves v alone;
// otherwise the Content-Type must be JSON, the body at most maxJSONBody
// bytes and maxJSONDepth deep, and nothing may follow the JSON value.
// Every failure is ErrInvalidArgument: a bad body is a 400, never a 500.
func readJSON(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return invalid("reading request body: " + err.Error())
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return invalid(fmt.Sprintf("unsupported Content-Type header (%s): must be 'application/json'", ct))
		}
	}
	if len(data) > maxJSONBody {
		return invalid(fmt.Sprintf("request body is larger than %d bytes", maxJSONBody))
	}
	if err := checkDepth(data, maxJSONDepth); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return invalid("invalid JSON: " + err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("unexpected data after JSON object")
	}
	return nil
}

// checkDepth rejects JSON nested deeper than max. It only tracks brackets
// outside strings; syntax errors are left to the decoder.
func checkDepth(data []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return invalid(fmt.Sprintf("JSON nested deeper than %d levels", max))
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}
