package main

import (
	"database/sql"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// TestMasterKeyEncryptsSigningKeys starts the server with a master key,
// checks the stored private key is not plain PKCS#8, and that a start
// without (or with another) master key fails with a clear message instead
// of minting a new key.
func TestMasterKeyEncryptsSigningKeys(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "tg.db")
	const master = "correct horse battery staple 0123456789"
	t.Setenv("TOKENGATE_MASTER_KEY", master)
	p := startServer(t, "--db", dbPath)
	if st, _ := post(t, p.base, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "nobody", "x"); st != 401 {
		t.Fatalf("unexpected status %d", st)
	}
	p.stop(t)

	db, err := sql.Open("sqlite", dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var encrypted bool
	var private []byte
	if err := db.QueryRow(`SELECT encrypted, private FROM signing_keys LIMIT 1`).Scan(&encrypted, &private); err != nil {
		t.Fatal(err)
	}
	// PKCS#8 DER starts with a SEQUENCE tag (0x30); sealed keys do not.
	if !encrypted || len(private) == 0 || private[0] == 0x30 {
		t.Fatalf("signing key stored in the clear (encrypted=%v)", encrypted)
	}
	for _, other := range []string{"", "another key entirely, also long enough"} {
		_, e, code := runEnv(t, []string{"TOKENGATE_MASTER_KEY=" + other}, "serve", "--addr", freeAddr(t), "--db", dbPath)
		if code == 0 || !strings.Contains(strings.ToLower(e), "master key") {
			t.Fatalf("start with master key %q: %d %s", other, code, e)
		}
		if strings.Contains(e, master) {
			t.Fatal("master key printed")
		}
	}
}
