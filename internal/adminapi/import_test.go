package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tokengate/tokengate/internal/admin"
	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/store/memory"
)

// importTestHash is a Laravel bcrypt hash ($2y$, cost 10).
const importTestHash = "$2y$10$xMYHaonppOzoCDS3xhGxLOfFqjx/yyi0HXMbvIlbX87lBXK5ZwPuW"

// syncBuffer is a log destination safe for concurrent requests.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newImportAPI is the API on a memory store; the bearer "admin" has the
// admin scope, "user" only read.
func newImportAPI(t *testing.T) (*API, *memory.Store, *syncBuffer) {
	t.Helper()
	st := memory.New()
	logs := &syncBuffer{}
	hash := func(_ context.Context, pw string) (string, error) { return "argon2id-of-" + fmt.Sprint(len(pw)), nil }
	api := New(Options{
		Users:   &admin.Users{Store: st, Hash: hash},
		Clients: &admin.Clients{Store: st},
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
		Introspect: func(_ context.Context, raw string) (*oauth.Introspection, error) {
			switch raw {
			case "admin":
				return &oauth.Introspection{Active: true, TokenType: "Bearer", ClientID: "ops", Scope: Scope}, nil
			case "user":
				return &oauth.Introspection{Active: true, TokenType: "Bearer", ClientID: "app", Scope: "read"}, nil
			}
			return &oauth.Introspection{}, nil
		},
	})
	return api, st, logs
}

func postImport(api *API, tok, body string) (int, map[string]any, string) {
	req := httptest.NewRequest("POST", Prefix+"/import/users", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m, rec.Body.String()
}

// TestImportUsers: the admin scope imports users once (created), the same
// again counts them unchanged, a bad record is refused with its line and
// reason; no answer and no audit line shows a hash; without a bearer
// 401, without the admin scope 403, and neither writes anything.
func TestImportUsers(t *testing.T) {
	api, st, logs := newImportAPI(t)
	data := "username,password_hash,scopes\nbob," + importTestHash + ",read\nweak,$1$abcdefgh$weakdigest,\nnoop,{noop}plain-pw,\n"
	body, _ := json.Marshal(map[string]any{"format": "csv", "data": data})

	if code, _, _ := postImport(api, "", string(body)); code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", code)
	}
	if code, m, _ := postImport(api, "user", string(body)); code != http.StatusForbidden || m["error"] != "insufficient_scope" {
		t.Fatalf("without the admin scope: %d %v", code, m)
	}
	if _, err := st.GetUser(context.Background(), "bob"); err == nil {
		t.Fatal("a refused call imported a user")
	}

	for run, want := range []struct{ created, unchanged float64 }{{2, 0}, {0, 2}} {
		code, m, raw := postImport(api, "admin", string(body))
		if code != http.StatusOK || m["created"] != want.created || m["unchanged"] != want.unchanged {
			t.Fatalf("run %d: %d %s", run+1, code, raw)
		}
		refused := m["refused"].([]any)
		if len(refused) != 1 {
			t.Fatalf("run %d refused: %s", run+1, raw)
		}
		if r := refused[0].(map[string]any); r["line"] != 3.0 || r["username"] != "weak" || r["reason"] == "" || r["client_id"] != nil {
			t.Fatalf("run %d refusal: %v", run+1, r)
		}
		for _, h := range []string{"$2y$", "$1$", "plain-pw", "argon2id-of"} {
			if strings.Contains(raw, h) {
				t.Fatalf("the answer shows %q: %s", h, raw)
			}
		}
	}
	u, err := st.GetUser(context.Background(), "noop")
	if err != nil || u.PasswordHash != "argon2id-of-8" {
		t.Fatalf("a {noop} password is hashed at import: %v %v", u, err)
	}
	if code, m, _ := postImport(api, "admin", `{"format":"xml","data":""}`); code != http.StatusUnprocessableEntity || m["error"] != "invalid_fields" {
		t.Fatalf("bad format: %d %v", code, m)
	}
	if code, m, _ := postImport(api, "admin", `{"format":"csv","data":"name,hash\n"}`); code != http.StatusUnprocessableEntity || m["error"] != "invalid_fields" {
		t.Fatalf("bad header: %d %v", code, m)
	}
	l := logs.String()
	if !strings.Contains(l, "action=user.import") || !strings.Contains(l, "client_id=ops") {
		t.Fatalf("no audit line: %s", l)
	}
	if strings.Contains(l, "$2y$") || strings.Contains(l, "$1$") || strings.Contains(l, "plain-pw") {
		t.Fatalf("a hash reached the log: %s", l)
	}
}

// TestImportUsersAtOnce: the same export sent 20 times at once creates
// each user exactly once; every answer is a report or a conflict (409,
// its batch created none), never a server error, and the created counts
// add up to the users.
func TestImportUsersAtOnce(t *testing.T) {
	api, st, _ := newImportAPI(t)
	var data strings.Builder
	for i := range 50 {
		fmt.Fprintf(&data, `{"username":"u%02d","password_hash":"%s"}`+"\n", i, importTestHash)
	}
	body, _ := json.Marshal(map[string]any{"data": data.String()})
	var wg sync.WaitGroup
	codes := make([]int, 20)
	created := make([]float64, 20)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, m, _ := postImport(api, "admin", string(body))
			codes[i] = code
			created[i], _ = m["created"].(float64)
		}()
	}
	wg.Wait()
	total := 0.0
	for i, code := range codes {
		if code != http.StatusOK && code != http.StatusConflict {
			t.Fatalf("answer %d: %d", i, code)
		}
		total += created[i]
	}
	if total != 50 {
		t.Fatalf("created %v users in all, want 50", total)
	}
	for i := range 50 {
		if _, err := st.GetUser(context.Background(), fmt.Sprintf("u%02d", i)); err != nil {
			t.Fatalf("u%02d: %v", i, err)
		}
	}
	if code, m, _ := postImport(api, "admin", string(body)); code != http.StatusOK || m["unchanged"] != 50.0 {
		t.Fatalf("after the flood: %d %v", code, m)
	}
}
