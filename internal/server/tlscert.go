package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// CertReloader serves a TLS certificate from PEM files and re-reads them
// when they change (checked at most once per CheckEvery on handshakes) or
// when Reload is called (on SIGHUP), so that a renewed certificate needs
// no restart. A pair that fails to load is logged and the previous one
// kept.
type CertReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time
	checkEvery        time.Duration

	mu        sync.Mutex
	cert      *tls.Certificate
	certMod   time.Time
	keyMod    time.Time
	lastCheck time.Time
}

// NewCertReloader loads the pair once; an unreadable or mismatched pair
// is an error at start.
func NewCertReloader(certFile, keyFile string, log *slog.Logger) (*CertReloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &CertReloader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now, checkEvery: time.Second}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func modTime(path string) (time.Time, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

// Reload reads the pair now.
func (r *CertReloader) Reload() error {
	cm, err := modTime(r.certFile)
	if err != nil {
		return fmt.Errorf("tls_cert: %w", err)
	}
	km, err := modTime(r.keyFile)
	if err != nil {
		return fmt.Errorf("tls_key: %w", err)
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("loading TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.mu.Lock()
	r.cert, r.certMod, r.keyMod, r.lastCheck = &c, cm, km, r.now()
	r.mu.Unlock()
	return nil
}

// GetCertificate is a tls.Config.GetCertificate.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	now := r.now()
	stale := now.Sub(r.lastCheck) >= r.checkEvery
	if stale {
		r.lastCheck = now
	}
	cert, cm0, km0 := r.cert, r.certMod, r.keyMod
	r.mu.Unlock()
	if stale {
		cm, err1 := modTime(r.certFile)
		km, err2 := modTime(r.keyFile)
		if err1 == nil && err2 == nil && (!cm.Equal(cm0) || !km.Equal(km0)) {
			if err := r.Reload(); err != nil {
				r.log.Error("TLS certificate changed but does not load; serving the previous one", "err", err)
			} else {
				r.log.Info("TLS certificate reloaded", "cert", r.certFile)
				r.mu.Lock()
				cert = r.cert
				r.mu.Unlock()
			}
		}
	}
	return cert, nil
}

// TLSConfig returns a server tls.Config using r, TLS 1.2 or later.
func (r *CertReloader) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}
