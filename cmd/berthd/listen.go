package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// listen opens every --host. A unix socket is root-only (0660, group
// "berth" when that group exists); TCP always requires client certificates.
func listen(cfg daemonConfig) ([]net.Listener, error) {
	var ls []net.Listener
	closeAll := func() {
		for _, l := range ls {
			l.Close()
		}
	}
	for _, h := range cfg.Hosts {
		l, err := listenOne(cfg, h)
		if err != nil {
			closeAll()
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func listenOne(cfg daemonConfig, host string) (net.Listener, error) {
	switch {
	case strings.HasPrefix(host, "unix://"):
		path := strings.TrimPrefix(host, "unix://")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		// The root lock is held, so a socket left here is a dead daemon's.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		l, err := net.Listen("unix", path)
		if err != nil {
			return nil, err
		}
		gid := 0
		if g, err := user.LookupGroup("berth"); err == nil {
			gid, _ = strconv.Atoi(g.Gid)
		}
		if err := os.Chown(path, 0, gid); err != nil {
			l.Close()
			return nil, err
		}
		if err := os.Chmod(path, 0o660); err != nil {
			l.Close()
			return nil, err
		}
		return l, nil
	case strings.HasPrefix(host, "tcp://"):
		tc, err := serverTLS(cfg)
		if err != nil {
			return nil, err
		}
		l, err := net.Listen("tcp", strings.TrimPrefix(host, "tcp://"))
		if err != nil {
			return nil, err
		}
		return tls.NewListener(l, tc), nil
	}
	return nil, fmt.Errorf("invalid host %q", host)
}

func serverTLS(cfg daemonConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("load TLS key pair: %w", err)
	}
	ca, err := os.ReadFile(cfg.TLSCACert)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificates in %s", cfg.TLSCACert)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
