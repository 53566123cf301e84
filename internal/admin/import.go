package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
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

// ImportFormat is the layout of a user export.
type ImportFormat string

// The layouts ImportUsers reads.
const (
	// ImportJSONLines is one JSON object a line:
	// {"username", "password_hash", "scopes", "disabled"}.
	ImportJSONLines ImportFormat = "jsonl"
	// ImportCSV is CSV with a header naming username and password_hash,
	// and optionally scopes (space-separated) and disabled.
	ImportCSV ImportFormat = "csv"
)

// ImportOptions tune ImportUsers.
type ImportOptions struct {
	// Format is the layout; empty means detect it (a first non-blank
	// byte "{" is JSON Lines, anything else CSV).
	Format ImportFormat
	// AllowWeak lets unsalted MD5/SHA-1 hashes in (they are upgraded to
	// argon2id at the first login like the others); off, they are refused.
	AllowWeak bool
	// Limits bound the verification cost of imported hashes; refused
	// beyond them. Zero fields take secret.DefaultLimits.
	Limits secret.Limits
	// BatchSize is how many new users one transaction creates; default 500.
	BatchSize int
}

// Refusal is one record an import did not take, with why. It never holds
// the record's hash.
type Refusal struct {
	Line     int    // 1-based line of the record in the file
	Username string // may be empty when the line did not parse
	Reason   string
	// ClientID names the record of a client import (ImportClients);
	// empty when the line did not parse.
	ClientID string
}

// ImportReport counts what an import did.
type ImportReport struct {
	Created   int
	Unchanged int // the user exists with the same scopes and disabled flag
	Refused   []Refusal
}

// importRecord is one parsed record.
type importRecord struct {
	line         int
	Username     string   `json:"username"`
	PasswordHash string   `json:"password_hash"`
	Scopes       []string `json:"scopes"`
	Disabled     bool     `json:"disabled"`
}

// maxImportLine bounds one record, so a corrupt file cannot make a line
// take unbounded memory.
const maxImportLine = 64 << 10

// ImportUsers creates the users of an export read from r (see
// ImportFormat). Existing users are never overwritten (their password may
// already have been upgraded at a login): one with the same scopes and
// disabled flag counts as unchanged, one that differs is refused. New
// users are created in transactions of BatchSize, all or none each. A
// hash is checked (secret.Identify) before anything is written; a Spring
// {noop} password is hashed with argon2id at once and never stored.
// Records refused are reported with their line and reason and do not stop
// the others. Run twice, the second run creates nothing.
func (a *Users) ImportUsers(ctx context.Context, r io.Reader, o ImportOptions) (ImportReport, error) {
	var rep ImportReport
	br := openImport(r, &o)
	next, err := recordReader(br, o.Format)
	if err != nil {
		return rep, badData(err)
	}
	seen := map[string]int{}
	batch := &batcher[store.User]{size: o.BatchSize, what: "users", create: a.Store.CreateUsers, created: &rep.Created}
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
			rep.Refused = append(rep.Refused, Refusal{Line: rec.line, Username: shownUsername(rec.Username, o.Limits), Reason: fmt.Sprintf(format, args...)})
		}
		if reason := checkImportUser(rec); reason != "" {
			refuse("%s", reason)
			continue
		}
		if first, dup := seen[rec.Username]; dup {
			refuse("username given twice (first on line %d)", first)
			continue
		}
		seen[rec.Username] = rec.line
		hash, reason, err := a.importHash(ctx, rec.PasswordHash, o)
		if err != nil {
			return rep, err
		}
		if reason != "" {
			refuse("%s", reason)
			continue
		}
		old, err := a.Store.GetUser(ctx, rec.Username)
		switch {
		case err == nil:
			if old.Disabled == rec.Disabled && slices.Equal(old.Scopes, rec.Scopes) {
				rep.Unchanged++
			} else {
				refuse("user exists with other scopes or disabled flag; an import never overwrites a user")
			}
			continue
		case !errors.Is(err, store.ErrNotFound):
			return rep, fmt.Errorf("user %q: %w", rec.Username, err)
		}
		if reason, err := userNameClash(ctx, a.Store, rec.Username); err != nil {
			return rep, err
		} else if reason != "" {
			refuse("%s", reason)
			continue
		}
		now := a.now()
		if err := batch.add(ctx, store.User{Username: rec.Username, PasswordHash: hash, Scopes: rec.Scopes, Disabled: rec.Disabled, CreatedAt: now, UpdatedAt: now}); err != nil {
			return rep, err
		}
	}
	return rep, batch.flush(ctx)
}

// openImport fills in o's defaults (batch size; the format, sniffed from
// the first bytes when not given) and returns the buffered reader the
// record readers read r through.
func openImport(r io.Reader, o *ImportOptions) *bufio.Reader {
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	br := bufio.NewReaderSize(r, maxImportLine)
	if o.Format == "" {
		o.Format = ImportCSV
		head, _ := br.Peek(512)
		if t := bytes.TrimLeft(head, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
			o.Format = ImportJSONLines
		}
	}
	return br
}

// batcher collects the new records of an import and creates them in
// transactions of size, all or none each, counting them in created.
type batcher[T any] struct {
	size    int
	what    string // "users", "clients": for the error
	create  func(context.Context, []T) error
	created *int
	batch   []T
}

// add queues v, creating the batch once it is full.
func (b *batcher[T]) add(ctx context.Context, v T) error {
	b.batch = append(b.batch, v)
	if len(b.batch) >= b.size {
		return b.flush(ctx)
	}
	return nil
}

// flush creates what is queued.
func (b *batcher[T]) flush(ctx context.Context) error {
	if len(b.batch) == 0 {
		return nil
	}
	if err := b.create(ctx, b.batch); err != nil {
		return fmt.Errorf("creating a batch of %d %s (none of them was created): %w", len(b.batch), b.what, err)
	}
	*b.created += len(b.batch)
	b.batch = b.batch[:0]
	return nil
}

// importHash checks an imported hash and returns what to store, or why
// it is refused.
func (a *Users) importHash(ctx context.Context, h string, o ImportOptions) (string, string, error) {
	if pw, ok := secret.Plaintext(h); ok {
		if pw == "" {
			return "", "{noop} with an empty password", nil
		}
		hashed, err := a.Hash(ctx, pw)
		if err != nil {
			return "", "", fmt.Errorf("hashing a {noop} password: %w", err)
		}
		return hashed, "", nil
	}
	_, err := secret.Identify(h, o.Limits)
	switch {
	case errors.Is(err, secret.ErrWeakHash):
		if !o.AllowWeak {
			return "", "weak unsalted MD5/SHA-1 hash refused (pass --allow-weak-hashes to import it; it is upgraded at the first login)", nil
		}
	case err != nil:
		return "", secret.Reason(err), nil
	}
	return h, "", nil
}

// shownUsername is a username as a refusal may show it: not at all when
// it looks like a password hash or a {noop} password (columns swapped in
// an export), since a refusal never shows a hash.
func shownUsername(name string, l secret.Limits) string {
	if _, ok := secret.Plaintext(name); ok {
		return ""
	}
	if _, err := secret.Identify(name, l); err == nil || errors.Is(err, secret.ErrWeakHash) {
		return ""
	}
	return name
}

// checkImportUser returns why a record cannot be a user, or "".
func checkImportUser(r importRecord) string {
	switch {
	case r.Username == "":
		return "username is empty"
	case len(r.Username) > 255:
		return "username longer than 255 bytes"
	case strings.ContainsFunc(r.Username, func(c rune) bool { return c < 0x20 || c == 0x7f }):
		return "username contains control characters"
	case store.IsExternalUsername(r.Username):
		return fmt.Sprintf("names starting with %q are reserved for users provisioned for external identities", store.ExternalUserPrefix)
	case r.PasswordHash == "":
		return "password_hash is empty"
	}
	for _, s := range r.Scopes {
		// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
		if s == "" || strings.ContainsFunc(s, func(c rune) bool { return c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e }) {
			return fmt.Sprintf("scope %q is not a valid scope token", s)
		}
	}
	return ""
}

// recordReader returns a function yielding records one by one: a record,
// or a refusal for a line that does not parse, or io.EOF.
func recordReader(br *bufio.Reader, f ImportFormat) (func() (importRecord, *Refusal, error), error) {
	switch f {
	case ImportJSONLines:
		sc := bufio.NewScanner(br)
		sc.Buffer(make([]byte, 0, 4096), maxImportLine)
		line := 0
		return func() (importRecord, *Refusal, error) {
			for sc.Scan() {
				line++
				b := bytes.TrimSpace(sc.Bytes())
				if line == 1 {
					b = bytes.TrimPrefix(b, []byte("\ufeff"))
				}
				if len(b) == 0 {
					continue
				}
				var rec importRecord
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.DisallowUnknownFields() // "scope" for "scopes" must not grant every scope
				if err := dec.Decode(&rec); err != nil {
					return rec, &Refusal{Line: line, Reason: "not a user record: " + jsonReason(err)}, nil
				}
				rec.line = line
				return rec, nil, nil
			}
			if err := sc.Err(); err != nil {
				return importRecord{}, nil, fmt.Errorf("line %d: %w", line+1, err)
			}
			return importRecord{}, nil, io.EOF
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
			case "username", "password_hash", "scopes", "disabled":
			default:
				return nil, fmt.Errorf("CSV header: unknown column %q (want username, password_hash, scopes, disabled)", h)
			}
			col[h] = i
		}
		if _, ok := col["username"]; !ok {
			return nil, errors.New("CSV header: no username column")
		}
		if _, ok := col["password_hash"]; !ok {
			return nil, errors.New("CSV header: no password_hash column")
		}
		return func() (importRecord, *Refusal, error) {
			row, err := cr.Read()
			if errors.Is(err, io.EOF) {
				return importRecord{}, nil, io.EOF
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if errors.Is(pe.Err, csv.ErrFieldCount) {
					return importRecord{}, &Refusal{Line: pe.StartLine, Reason: "wrong number of fields"}, nil
				}
				return importRecord{}, nil, fmt.Errorf("CSV line %d: %w", pe.StartLine, pe.Err)
			}
			if err != nil {
				return importRecord{}, nil, err
			}
			line, _ := cr.FieldPos(0)
			rec := importRecord{line: line, Username: row[col["username"]], PasswordHash: row[col["password_hash"]]}
			if i, ok := col["scopes"]; ok {
				rec.Scopes = strings.Fields(row[i])
			}
			if i, ok := col["disabled"]; ok && strings.TrimSpace(row[i]) != "" {
				d, err := strconv.ParseBool(strings.TrimSpace(row[i]))
				if err != nil {
					return rec, &Refusal{Line: line, Reason: "disabled is not true or false"}, nil
				}
				rec.Disabled = d
			}
			return rec, nil, nil
		}, nil
	}
	return nil, fmt.Errorf("unknown import format %q (want jsonl or csv)", f)
}

// jsonReason describes a JSON error without quoting the record (which may
// hold a hash).
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "invalid JSON"
}
