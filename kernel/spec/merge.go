package spec

import (
	"strings"

	"github.com/moby/moby/api/types/container"
)

// DefaultPathEnv is the PATH a Linux container gets when neither the image
// nor the request sets one.
const DefaultPathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// MergeConfig merges an image's config into a create request the way dockerd
// does at create time (daemon merge): the request wins field by field; Env is
// merged by key, request entries first; Labels are merged by key; an
// Entrypoint in the request (even [""], what `--entrypoint ""` sends) drops
// both the image's Entrypoint and its Cmd. The kernel stores the result as the
// container's Config, so inspect shows the merged values.
func MergeConfig(img ImageConfig, req container.Config) container.Config {
	out := req
	if req.User == "" {
		out.User = img.User
	}
	if req.WorkingDir == "" {
		out.WorkingDir = img.WorkingDir
	}
	if req.StopSignal == "" {
		out.StopSignal = img.StopSignal
	}
	out.Env = mergeEnv(img.Env, req.Env)
	if len(req.Entrypoint) == 0 {
		if len(req.Cmd) == 0 {
			out.Cmd = copyStrings(img.Cmd)
		}
		// A request's explicit empty list ("Entrypoint": []) stays empty.
		if req.Entrypoint == nil {
			out.Entrypoint = copyStrings(img.Entrypoint)
		}
	}
	if len(img.Labels) > 0 {
		labels := make(map[string]string, len(req.Labels)+len(img.Labels))
		for k, v := range img.Labels {
			labels[k] = v
		}
		for k, v := range req.Labels {
			labels[k] = v
		}
		out.Labels = labels
	}
	return out
}

// Args returns the process's argv: Entrypoint followed by Cmd. An entrypoint
// of [""] (the CLI's `--entrypoint ""`) means none.
func Args(entrypoint, cmd []string) []string {
	if len(entrypoint) == 1 && entrypoint[0] == "" {
		entrypoint = nil
	}
	args := make([]string, 0, len(entrypoint)+len(cmd))
	args = append(args, entrypoint...)
	args = append(args, cmd...)
	if len(args) == 0 {
		return nil
	}
	return args
}

// Env returns the process environment of a merged config, built like
// dockerd's: PATH (default), HOSTNAME and, with a terminal, TERM=xterm come
// first and are replaced in place by the config's own values; the config's
// other entries follow in order; an entry without "=" unsets that variable.
func Env(cfg container.Config, tty bool) []string {
	env := []string{"PATH=" + DefaultPathEnv, "HOSTNAME=" + cfg.Hostname}
	if tty {
		env = append(env, "TERM=xterm")
	}
	return replaceOrAppendEnv(env, cfg.Env)
}

// mergeEnv keeps every request entry, then adds the image's entries whose
// keys the request does not set.
func mergeEnv(image, request []string) []string {
	if len(request) == 0 {
		return copyStrings(image)
	}
	out := copyStrings(request)
	keys := make(map[string]bool, len(request))
	for _, e := range request {
		keys[envKey(e)] = true
	}
	for _, e := range image {
		if !keys[envKey(e)] {
			out = append(out, e)
		}
	}
	return out
}

func replaceOrAppendEnv(defaults, overrides []string) []string {
	index := make(map[string]int, len(defaults))
	for i, e := range defaults {
		index[envKey(e)] = i
	}
	removed := make(map[int]bool)
	for _, e := range overrides {
		k, _, hasValue := strings.Cut(e, "=")
		i, exists := index[k]
		switch {
		case !hasValue:
			if exists {
				removed[i] = true
			}
		case exists:
			defaults[i] = e
			delete(removed, i)
		default:
			index[k] = len(defaults)
			defaults = append(defaults, e)
		}
	}
	out := defaults[:0]
	for i, e := range defaults {
		if !removed[i] {
			out = append(out, e)
		}
	}
	return out
}

func envKey(e string) string {
	k, _, _ := strings.Cut(e, "=")
	return k
}

func copyStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string{}, s...)
}
