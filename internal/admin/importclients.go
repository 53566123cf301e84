package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
)

// clientRecord is one parsed record of a client export.
type clientRecord struct {
	line       int
	ID         string   `json:"id"`
	SecretHash string   `json:"secret_hash"`
	Secret     string   `json:"secret"`
	Grants     []string `json:"grants"`
	Scopes     []string `json:"scopes"`
	Public     bool     `json:"public"`
	// RedirectURIs are the client's registered redirect URIs (the
	// authorization code grant), checked as `client add` checks them.
	// with a reason rather than imported without them: this build's
	// clients have no redirect URIs (no authorization code grant) yet.
	RedirectURIs []string `json:"redirect_uris"`
}

// ImportClients creates the clients of an export read from r: JSON Lines
// ({"id", "secret_hash" or "secret", "grants", "scopes", "public"}) or CSV
// with a header naming those columns (grants and scopes space-separated).
// It has ImportUsers' semantics: existing clients are never overwritten
// (one with the same public flag, grants, scopes and redirect URIs counts as unchanged,
// and, for a plaintext secret, the same secret; one that differs is
// refused), new ones are created in transactions of BatchSize, all or
// none each, and refused records are reported with their line and reason
// (never a secret or hash). secret_hash is a hash of another system
// (bcrypt as Laravel Passport stores it, Django's hashers as Django OAuth
// Toolkit 2.x does; anything secret.Identify accepts within o.Limits),
// kept as the client's legacy hash until its first authentication, or
// tokengate's own hex SHA-256. secret is a plaintext secret (Django OAuth
// Toolkit 1.x stores them so; Spring's {noop} too): its SHA-256 is stored,
// never the secret.
func (a *Clients) ImportClients(ctx context.Context, r io.Reader, o ImportOptions) (ImportReport, error) {
	var rep ImportReport
	br := openImport(r, &o)
	next, err := clientRecordReader(br, o.Format)
	if err != nil {
		return rep, badData(err)
	}
	seen := map[string]int{}
	batch := &batcher[store.Client]{size: o.BatchSize, what: "clients", create: a.Store.CreateClients, created: &rep.Created}
	for {
		rec, refusal, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rep, badData(err)
		}
		if refusal != nil {
			rep.Refused = append(rep.Refused, *refusal)
			continue
		}
		refuse := func(format string, args ...any) {
			id := rec.ID
			if !nameOK(id) {
				id = "" // may be a secret in the wrong column
			}
			rep.Refused = append(rep.Refused, Refusal{Line: rec.line, ClientID: id, Reason: fmt.Sprintf(format, args...)})
		}
		c, reason := a.importedClient(rec, o)
		if reason != "" {
			refuse("%s", reason)
			continue
		}
		if first, dup := seen[c.ID]; dup {
			refuse("client id given twice (first on line %d)", first)
			continue
		}
		seen[c.ID] = rec.line
		old, err := a.Store.GetClient(ctx, c.ID)
		switch {
		case err == nil:
			if old.Public == c.Public && slices.Equal(old.Grants, c.Grants) && slices.Equal(old.Scopes, c.Scopes) &&
				slices.Equal(old.RedirectURIs, c.RedirectURIs) &&
				(rec.Secret == "" || len(old.SecretHash) == 0 || secret.Equal(rec.Secret, old.SecretHash)) {
				rep.Unchanged++
			} else {
				refuse("client exists with another secret, public flag, grants or scopes; an import never overwrites a client")
			}
			continue
		case !errors.Is(err, store.ErrNotFound):
			return rep, fmt.Errorf("client %q: %w", c.ID, err)
		}
		if reason, err := clientNameClash(ctx, a.Store, c.ID); err != nil {
			return rep, err
		} else if reason != "" {
			refuse("%s", reason)
			continue
		}
		if err := batch.add(ctx, c); err != nil {
			return rep, err
		}
	}
	return rep, batch.flush(ctx)
}

// badData is an export that cannot be read on (a bad CSV header or
// quoting, a line too long), as a field error of the data.
func badData(err error) error {
	return &InvalidError{Fields: []FieldError{{Field: "data", Message: err.Error()}}}
}

// importedClient makes the client a record describes, or says why not.
func (a *Clients) importedClient(rec clientRecord, o ImportOptions) (store.Client, string) {
	c := store.Client{ID: rec.ID, Public: rec.Public, Grants: rec.Grants, Scopes: rec.Scopes, RedirectURIs: rec.RedirectURIs, CreatedAt: a.now()}
	var f fields
	if !nameOK(rec.ID) {
		f.add("id", "must be 1 to %d characters of letters, digits and . _ @ + - :", MaxNameLen)
	}
	checkClient(&f, c)
	if c.Public && slices.Contains(c.Grants, "client_credentials") {
		f.add("grants", "a public client may not use client_credentials")
	}
	if err := f.err(); err != nil {
		return c, strings.TrimPrefix(err.Error(), "invalid ")
	}
	sec, hash := rec.Secret, rec.SecretHash
	if pw, ok := secret.Plaintext(hash); ok {
		sec, hash = pw, ""
		if rec.Secret != "" {
			return c, "give secret or secret_hash, not both"
		}
	}
	switch {
	case c.Public && (sec != "" || hash != ""):
		return c, "a public client has no secret"
	case c.Public:
		return c, ""
	case sec != "" && hash != "":
		return c, "give secret or secret_hash, not both"
	case sec == "" && hash == "":
		return c, "a confidential client needs secret or secret_hash"
	case sec != "":
		if len(sec) > 4096 || strings.ContainsFunc(sec, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return c, "secret is longer than 4096 bytes or contains control characters"
		}
		c.SecretHash = secret.Hash(sec)
		return c, ""
	}
	if b, err := hex.DecodeString(hash); err == nil && len(b) == 32 {
		c.SecretHash = b // tokengate's own hex SHA-256
		return c, ""
	}
	_, err := secret.Identify(hash, o.Limits)
	switch {
	case errors.Is(err, secret.ErrWeakHash):
		if !o.AllowWeak {
			return c, "weak unsalted MD5/SHA-1 hash refused (pass --allow-weak-hashes to import it; it is replaced at the first authentication)"
		}
	case err != nil:
		return c, "secret_hash: " + secret.Reason(err)
	}
	c.LegacySecretHash = hash
	return c, ""
}

// clientRecordReader returns a function yielding client records one by
// one: a record, or a refusal for a line that does not parse, or io.EOF.
func clientRecordReader(br *bufio.Reader, f ImportFormat) (func() (clientRecord, *Refusal, error), error) {
	switch f {
	case ImportJSONLines:
		sc := bufio.NewScanner(br)
		sc.Buffer(make([]byte, 0, 4096), maxImportLine)
		line := 0
		return func() (clientRecord, *Refusal, error) {
			for sc.Scan() {
				line++
				b := bytes.TrimSpace(sc.Bytes())
				if line == 1 {
					b = bytes.TrimPrefix(b, []byte("\ufeff"))
				}
				if len(b) == 0 {
					continue
				}
				var rec clientRecord
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&rec); err != nil {
					return rec, &Refusal{Line: line, Reason: "not a client record: " + jsonReason(err)}, nil
				}
				rec.line = line
				return rec, nil, nil
			}
			if err := sc.Err(); err != nil {
				return clientRecord{}, nil, fmt.Errorf("line %d: %w", line+1, err)
			}
			return clientRecord{}, nil, io.EOF
		}, nil
	case ImportCSV:
		cr := csv.NewReader(br)
		cr.ReuseRecord = true
		header, err := cr.Read()
		if err != nil {
			return nil, fmt.Errorf("reading the CSV header: %w", err)
		}
		col := map[string]int{}
		for i, h := range header {
			h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
			switch h {
			case "id", "secret_hash", "secret", "grants", "scopes", "public", "redirect_uris":
			default:
				return nil, fmt.Errorf("CSV header: unknown column %q (want id, secret_hash, secret, grants, scopes, public, redirect_uris)", h)
			}
			col[h] = i
		}
		for _, need := range []string{"id", "grants"} {
			if _, ok := col[need]; !ok {
				return nil, fmt.Errorf("CSV header: no %s column", need)
			}
		}
		get := func(row []string, name string) string {
			if i, ok := col[name]; ok {
				return row[i]
			}
			return ""
		}
		return func() (clientRecord, *Refusal, error) {
			row, err := cr.Read()
			if errors.Is(err, io.EOF) {
				return clientRecord{}, nil, io.EOF
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if errors.Is(pe.Err, csv.ErrFieldCount) {
					return clientRecord{}, &Refusal{Line: pe.StartLine, Reason: "wrong number of fields"}, nil
				}
				return clientRecord{}, nil, fmt.Errorf("CSV line %d: %w", pe.StartLine, pe.Err)
			}
			if err != nil {
				return clientRecord{}, nil, err
			}
			line, _ := cr.FieldPos(0)
			rec := clientRecord{line: line, ID: get(row, "id"), SecretHash: get(row, "secret_hash"), Secret: get(row, "secret"),
				Grants: strings.Fields(get(row, "grants")), Scopes: strings.Fields(get(row, "scopes")),
				RedirectURIs: strings.Fields(get(row, "redirect_uris"))}
			if p := strings.TrimSpace(get(row, "public")); p != "" {
				b, err := strconv.ParseBool(p)
				if err != nil {
					return rec, &Refusal{Line: line, Reason: "public is not true or false"}, nil
				}
				rec.Public = b
			}
			return rec, nil, nil
		}, nil
	}
	return nil, fmt.Errorf("unknown import format %q (want jsonl or csv)", f)
}
