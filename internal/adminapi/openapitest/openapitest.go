// Package openapitest checks the admin API against its OpenAPI document
// in tests: the document must be a valid OpenAPI 3.1 document, and every
// admin response a test receives through Checker's client must match it.
package openapitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/tokengate/tokengate/docs"
)

// Checker validates admin responses against docs/admin-openapi.yaml.
type Checker struct {
	t  testing.TB
	mu sync.Mutex
	v  validator.Validator
	// seen counts validated responses by "METHOD path status".
	seen map[string]int
}

// New loads and validates the document; it fails t when the document is
// not a valid OpenAPI 3.1 document.
func New(t testing.TB) *Checker {
	t.Helper()
	doc, err := libopenapi.NewDocument(docs.AdminOpenAPI())
	if err != nil {
		t.Fatalf("admin OpenAPI document: %v", err)
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1") {
		t.Fatalf("admin OpenAPI document is version %q, want 3.1", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("admin OpenAPI document: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("admin OpenAPI document invalid: %s", e.Error())
		}
		t.FailNow()
	}
	return &Checker{t: t, v: v, seen: map[string]int{}}
}

// Client returns an HTTP client whose every response to an /admin/v1
// request is checked against the document; a mismatch fails the test.
func (c *Checker) Client(base *http.Client) *http.Client {
	cl := *base
	rt := cl.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	cl.Transport = roundTripper{c: c, next: rt}
	return &cl
}

// Seen returns how many responses with the key "METHOD /path STATUS"
// (path as requested) were validated.
func (c *Checker) Seen() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.seen))
	for k, v := range c.seen {
		out[k] = v
	}
	return out
}

type roundTripper struct {
	c    *Checker
	next http.RoundTripper
}

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.next.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/admin/v1/") {
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rerr != nil {
		return nil, rerr
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := rt.c.check(req, resp, body); err != nil {
		rt.c.t.Errorf("%s %s answered %d, which the OpenAPI document does not describe: %v\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (c *Checker) check(req *http.Request, resp *http.Response, body []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := req.Clone(req.Context())
	r.Body = http.NoBody
	resp.Body = io.NopCloser(bytes.NewReader(body))
	ok, errs := c.v.ValidateHttpResponse(r, resp)
	if !ok {
		var b strings.Builder
		for _, e := range errs {
			fmt.Fprintf(&b, "%s", e.Error())
			for _, se := range e.SchemaValidationErrors {
				fmt.Fprintf(&b, " [%s: %s]", se.FieldPath, se.Reason)
			}
			b.WriteString("; ")
		}
		return fmt.Errorf("%s", b.String())
	}
	c.seen[fmt.Sprintf("%s %s %d", req.Method, req.URL.Path, resp.StatusCode)]++
	return nil
}
