package image

import (
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// applyChanges applies Dockerfile-style instructions (`docker import
// --change`) to cfg. Supported: CMD, ENTRYPOINT (JSON or shell form), ENV,
// WORKDIR, USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL. Anything else is
// errdefs.ErrInvalidArgument, as dockerd refuses it.
func applyChanges(cfg *v1.Config, changes []string) error {
	for _, change := range changes {
		change = strings.TrimSpace(change)
		if change == "" {
			continue
		}
		instr, rest, _ := strings.Cut(change, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "CMD":
			cfg.Cmd = commandForm(rest)
		case "ENTRYPOINT":
			cfg.Entrypoint = commandForm(rest)
		case "ENV":
			pairs, err := keyValues(rest)
			if err != nil {
				return invalidf("ENV %s: %v", rest, err)
			}
			for _, kv := range pairs {
				cfg.Env = setEnv(cfg.Env, kv[0], kv[1])
			}
		case "LABEL":
			pairs, err := keyValues(rest)
			if err != nil {
				return invalidf("LABEL %s: %v", rest, err)
			}
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			for _, kv := range pairs {
				cfg.Labels[kv[0]] = kv[1]
			}
		case "WORKDIR":
			cfg.WorkingDir = rest
		case "USER":
			cfg.User = rest
		case "STOPSIGNAL":
			cfg.StopSignal = rest
		case "EXPOSE":
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range strings.Fields(rest) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				cfg.ExposedPorts[p] = struct{}{}
			}
		case "VOLUME":
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			var list []string
			if json.Unmarshal([]byte(rest), &list) != nil {
				list = strings.Fields(rest)
			}
			for _, v := range list {
				cfg.Volumes[v] = struct{}{}
			}
		default:
			return invalidf("%s is not a valid change command", instr)
		}
	}
	return nil
}

// commandForm parses the JSON form `["a","b"]` or else takes the shell form,
// run by /bin/sh -c as the Dockerfile does.
func commandForm(s string) []string {
	var list []string
	if strings.HasPrefix(s, "[") && json.Unmarshal([]byte(s), &list) == nil {
		return list
	}
	return []string{"/bin/sh", "-c", s}
}

// keyValues parses `k=v k2="v 2"` or the legacy single pair `k v`.
func keyValues(s string) ([][2]string, error) {
	if s == "" {
		return nil, fmt.Errorf("missing arguments")
	}
	first, _, _ := strings.Cut(s, " ")
	if !strings.Contains(first, "=") {
		k, v, _ := strings.Cut(s, " ")
		return [][2]string{{k, strings.TrimSpace(v)}}, nil
	}
	var out [][2]string
	for _, word := range splitQuoted(s) {
		k, v, ok := strings.Cut(word, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", word)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// splitQuoted splits on spaces outside double quotes and drops the quotes.
func splitQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, started := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			started = true
		case r == ' ' && !quoted:
			if started {
				out = append(out, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	if started {
		out = append(out, cur.String())
	}
	return out
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}
