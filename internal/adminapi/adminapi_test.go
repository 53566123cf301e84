package adminapi

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/docs"
)

// TestDocumentDescribesEveryRoute fails when a route is added without its
// operation in docs/admin-openapi.yaml, or the document names one the API
// does not serve.
func TestDocumentDescribesEveryRoute(t *testing.T) {
	b, err := OpenAPIJSON(docs.AdminOpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var inDoc []string
	for path, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" || path == Prefix+"/openapi.json" {
				continue
			}
			// Path parameters become the router's wildcard.
			segs := strings.Split(strings.TrimPrefix(path, Prefix+"/"), "/")
			for i, s := range segs {
				if strings.HasPrefix(s, "{") {
					segs[i] = "{}"
				}
			}
			inDoc = append(inDoc, strings.ToUpper(m)+" "+strings.Join(segs, "/"))
		}
	}
	var served []string
	for _, rt := range New(Options{}).routes {
		served = append(served, rt.method+" "+strings.Join(rt.segments, "/"))
	}
	slices.Sort(inDoc)
	slices.Sort(served)
	if !slices.Equal(inDoc, served) {
		t.Fatalf("document and routes differ:\ndocument: %v\nserved:   %v", inDoc, served)
	}
}

func TestPageFollowsCursors(t *testing.T) {
	items := []string{"a", "b", "c", "d", "e"}
	id := func(s string) string { return s }
	var got []string
	after, pages := "", 0
	for {
		limit, cur, err := pageParams(map[string][]string{"limit": {"2"}, "cursor": {after}})
		if err != nil {
			t.Fatal(err)
		}
		// As a store reads it: one more than the page, after the cursor.
		i := 0
		for i < len(items) && items[i] <= cur {
			i++
		}
		p, next := cut(items[i:min(i+limit+1, len(items))], id, limit)
		got = append(got, p...)
		pages++
		if next == nil {
			break
		}
		after = *next
	}
	if !slices.Equal(got, items) || pages != 3 {
		t.Fatalf("pages gave %v in %d pages", got, pages)
	}
}
