package image

import (
	"net"
	"strings"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
)

// ParseReference parses s the way dockerd does: a short name gains the
// docker.io registry and the library/ namespace, and a reference that has
// neither tag nor digest gains the tag "latest". A reference with both a tag
// and a digest keeps only the digest, which is what is pulled. Errors are
// errdefs.ErrInvalidArgument with the reference library's own message
// ("invalid reference format", "repository name must be lowercase").
func ParseReference(s string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, invalidf("%s", err.Error())
	}
	if c, ok := named.(reference.Canonical); ok {
		if _, tagged := named.(reference.Tagged); tagged {
			// Drop the tag: the digest alone names the content.
			return reference.WithDigest(reference.TrimNamed(named), c.Digest())
		}
		return c, nil
	}
	return reference.TagNameOnly(named), nil
}

// FamiliarString is the short form users see in RepoTags and messages:
// "busybox:latest", "127.0.0.1:5000/busybox:latest".
func FamiliarString(r reference.Named) string { return reference.FamiliarString(r) }

// remoteReference converts a normalised reference to go-containerregistry's
// form, using plain HTTP for loopback and configured insecure registries.
func remoteReference(r reference.Named, insecure []string) (name.Reference, error) {
	s := r.Name()
	if c, ok := r.(reference.Canonical); ok {
		s += "@" + c.Digest().String()
	} else if t, ok := r.(reference.Tagged); ok {
		s += ":" + t.Tag()
	}
	var opts []name.Option
	if isInsecureRegistry(reference.Domain(r), insecure) {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(s, opts...)
	if err != nil {
		return nil, invalidf("invalid reference format: %v", err)
	}
	return ref, nil
}

// isInsecureRegistry reports whether domain (host or host:port) is spoken to
// over plain HTTP: loopback addresses and localhost always, as dockerd does,
// and every entry of list, matched as host:port, host, or CIDR.
func isInsecureRegistry(domain string, list []string) bool {
	host := domain
	if h, _, err := net.SplitHostPort(domain); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	ip := net.ParseIP(host)
	if host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return true
	}
	for _, entry := range list {
		if entry == domain || entry == host {
			return true
		}
		if _, cidr, err := net.ParseCIDR(entry); err == nil && ip != nil && cidr.Contains(ip) {
			return true
		}
	}
	return false
}
