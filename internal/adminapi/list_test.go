package adminapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/tokengate/tokengate/internal/admin"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/memory"
)

// pageCounter is a memory store that records what the list pages read.
type pageCounter struct {
	*memory.Store
	whole  int   // ListUsers and ListClients calls
	limits []int // the limits of ListUsersAfter and ListClientsAfter
}

func (p *pageCounter) ListUsers(ctx context.Context) ([]store.User, error) {
	p.whole++
	return p.Store.ListUsers(ctx)
}

func (p *pageCounter) ListClients(ctx context.Context) ([]store.Client, error) {
	p.whole++
	return p.Store.ListClients(ctx)
}

func (p *pageCounter) ListAPIKeys(ctx context.Context) ([]store.APIKey, error) {
	p.whole++
	return p.Store.ListAPIKeys(ctx)
}

func (p *pageCounter) ListAPIKeysAfter(ctx context.Context, username, after string, limit int) ([]store.APIKey, error) {
	p.limits = append(p.limits, limit)
	return p.Store.ListAPIKeysAfter(ctx, username, after, limit)
}

func (p *pageCounter) ListUsersAfter(ctx context.Context, after string, limit int) ([]store.User, error) {
	p.limits = append(p.limits, limit)
	return p.Store.ListUsersAfter(ctx, after, limit)
}

func (p *pageCounter) ListClientsAfter(ctx context.Context, after string, limit int) ([]store.Client, error) {
	p.limits = append(p.limits, limit)
	return p.Store.ListClientsAfter(ctx, after, limit)
}

// TestListPagesReadOnlyThePage: listing users or clients reads one page
// (and one record more, to know whether another follows) from the store,
// never the whole table, and following next_cursor visits every record
// once, in order.
func TestListPagesReadOnlyThePage(t *testing.T) {
	api, mem, _ := newImportAPI(t)
	pc := &pageCounter{Store: mem}
	api.o.Users.Store, api.o.Clients.Store = pc, pc
	api.o.APIKeys = &admin.APIKeys{Store: pc}
	ctx := context.Background()
	const n = 25
	for i := range n {
		id := "r" + strconv.Itoa(100+i)
		if err := mem.CreateUser(ctx, store.User{Username: id}); err != nil {
			t.Fatal(err)
		}
		if err := mem.CreateClient(ctx, store.Client{ID: id, Public: true}); err != nil {
			t.Fatal(err)
		}
		if err := mem.CreateAPIKey(ctx, store.APIKey{ID: id, Hash: []byte(id), Username: "r100"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ path, key string }{{"/users", "username"}, {"/clients", "client_id"}, {"/users/r100/api-keys", "id"}} {
		pc.whole, pc.limits = 0, nil
		var seen []string
		cursor := ""
		for range n {
			u := Prefix + tc.path + "?limit=10"
			if cursor != "" {
				u += "&cursor=" + url.QueryEscape(cursor)
			}
			req := httptest.NewRequest("GET", u, nil)
			req.Header.Set("Authorization", "Bearer admin")
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Fatalf("%s: %d %s", u, rec.Code, rec.Body)
			}
			var page struct {
				Items      []map[string]any `json:"items"`
				NextCursor *string          `json:"next_cursor"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				seen = append(seen, it[tc.key].(string))
			}
			if page.NextCursor == nil {
				break
			}
			cursor = *page.NextCursor
		}
		if len(seen) != n || seen[0] != "r100" || seen[n-1] != "r124" {
			t.Fatalf("%s: visited %d records %q", tc.path, len(seen), seen)
		}
		for i := 1; i < n; i++ {
			if seen[i] <= seen[i-1] {
				t.Fatalf("%s: out of order at %d: %q", tc.path, i, seen)
			}
		}
		if pc.whole != 0 || len(pc.limits) != 3 {
			t.Fatalf("%s: %d whole-table reads, page reads with limits %v; want 0 and three pages", tc.path, pc.whole, pc.limits)
		}
		for _, l := range pc.limits {
			if l != 11 {
				t.Fatalf("%s: a page of 10 read %d records", tc.path, l)
			}
		}
	}
}

// TestCursorsThatNameNoRecordAreRefused: a cursor is decoded and handed
// to the store's query, so one that no record name could be (a NUL byte,
// invalid UTF-8, which PostgreSQL refuses as a text parameter) is 422
// before the store is asked.
func TestCursorsThatNameNoRecordAreRefused(t *testing.T) {
	api, mem, _ := newImportAPI(t)
	pc := &pageCounter{Store: mem}
	api.o.Users.Store, api.o.Clients.Store = pc, pc
	api.o.APIKeys = &admin.APIKeys{Store: pc}
	if err := mem.CreateUser(context.Background(), store.User{Username: "r100"}); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"a\x00b", "\xff\xfe", "\x00"} {
		cur := base64.RawURLEncoding.EncodeToString([]byte(raw))
		for _, path := range []string{"/users", "/clients", "/users/r100/api-keys"} {
			req := httptest.NewRequest("GET", Prefix+path+"?cursor="+cur, nil)
			req.Header.Set("Authorization", "Bearer admin")
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, req)
			if rec.Code != 422 {
				t.Errorf("GET %s with cursor %q: %d %s, want 422", path, raw, rec.Code, rec.Body)
			}
		}
	}
	if len(pc.limits) != 0 {
		t.Fatalf("the store was asked for pages after bad cursors: %v", pc.limits)
	}
}
