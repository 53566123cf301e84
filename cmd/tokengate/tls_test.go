package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// serial to certFile and keyFile.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "tokengate test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Write beside and rename, as certificate renewers do.
	for _, f := range []struct {
		path string
		blk  *pem.Block
	}{{certFile, &pem.Block{Type: "CERTIFICATE", Bytes: der}}, {keyFile, &pem.Block{Type: "PRIVATE KEY", Bytes: kder}}} {
		if err := os.WriteFile(f.path+".new", pem.EncodeToMemory(f.blk), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.path+".new", f.path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTLSServesAndReloadsARenewedCertificate serves HTTPS from tls_cert/tls_key, with
// an https:// default issuer, and picks up a renewed certificate on
// SIGHUP (or on its own, when the files change) without a restart.
func TestTLSServesAndReloadsARenewedCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, 1)
	addr := freeAddr(t)
	cmd := exec.Command(binPath, "serve", "--addr", addr, "--db", filepath.Join(dir, "tg.db"), "--tls-cert", certFile, "--tls-key", keyFile)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	// The test trusts whatever certificate it is shown and reports its serial.
	serial := func() (int64, *http.Response, error) {
		var got int64
		tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
			got = cs.PeerCertificates[0].SerialNumber.Int64()
			return nil
		}}}
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + "/.well-known/oauth-authorization-server")
		return got, resp, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		s, resp, err := serial()
		if err == nil {
			var meta map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&meta)
			resp.Body.Close()
			if s != 1 || meta["issuer"] != "https://"+addr {
				t.Fatalf("serial %d, issuer %v; want 1 and https://%s", s, meta["issuer"], addr)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS answer: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP answered 200 on the TLS listener")
	}
	// The container health check finds the TLS listener from the config.
	hcCfg := filepath.Join(dir, "hc.yaml")
	if err := os.WriteFile(hcCfg, []byte("addr: "+addr+"\ntls_cert: "+certFile+"\ntls_key: "+keyFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, e, code := cli(t, "", "healthcheck", "--config", hcCfg); code != 0 {
		t.Fatalf("healthcheck against the TLS listener: exit %d: %s", code, e)
	}
	writeCert(t, certFile, keyFile, 2)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		s, resp, err := serial()
		if err == nil {
			resp.Body.Close()
			if s == 2 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("renewed certificate not served after SIGHUP (serial %d, %v)\n%s", s, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("server exited on SIGHUP: %v", err)
	default:
	}
}
