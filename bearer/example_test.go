package bearer_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/bearer"
	"github.com/tokengate/tokengate/jwks"
)

// Protect an API with tokens of a tokengate (or any RFC 9068 issuer): the
// verifier finds the issuer's keys through its metadata.
func ExampleNewVerifier() {
	ctx := context.Background()
	v, err := bearer.NewVerifier(ctx, bearer.Config{
		Issuer:   "https://auth.example.com",
		Audience: "https://api.example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /orders", v.Require("orders:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "orders of %s\n", bearer.ClaimsFrom(r.Context()).Subject)
	})))
	log.Fatal(http.ListenAndServe(":8081", mux))
}

// The program of the package's README: an API whose routes need tokens
// of one issuer, for this API's audience, with a scope each. Compiled,
// not run: it needs a real issuer.
func Example_program() {
	ctx := context.Background()
	v, err := bearer.NewVerifier(ctx, bearer.Config{
		Issuer:           "https://auth.example.com", // keys found through its metadata
		Audience:         "https://api.example.com",  // required: tokens for other APIs are refused
		MaxTokenLifetime: time.Hour,                  // the longest access-token lifetime the issuer grants
	})
	if err != nil {
		log.Fatal(err) // no keys, no start
	}
	mux := http.NewServeMux()
	mux.Handle("GET /orders", v.Require("orders:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := bearer.ClaimsFrom(r.Context()) // this request's own copy
		fmt.Fprintf(w, "orders of %s\n", c.Subject)
	})))
	log.Fatal(http.ListenAndServe(":8081", mux))
}

// exampleIssuer signs tokens as an issuer would, with a fixed key so that
// the example's output does not change.
type exampleIssuer struct{ priv ed25519.PrivateKey }

func (e exampleIssuer) token(typ string, claims map[string]any) string {
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: e.priv, KeyID: "key-1"}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	p, _ := json.Marshal(claims)
	jws, _ := s.Sign(p)
	out, _ := jws.CompactSerialize()
	return out
}

// Require answers per RFC 6750 and hands the claims to the handler.
func ExampleVerifier_Require() {
	iss := exampleIssuer{ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}
	v, err := bearer.NewVerifier(context.Background(), bearer.Config{
		Issuer:     "https://auth.example.com",
		Audience:   "https://api.example.com",
		StaticKeys: []jwks.Key{{ID: "key-1", Algorithm: "EdDSA", Public: iss.priv.Public()}},
	})
	if err != nil {
		log.Fatal(err)
	}
	h := v.Require("read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := bearer.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello %s (client %s)", c.Subject, c.ClientID)
	}))
	claims := map[string]any{"iss": "https://auth.example.com", "aud": "https://api.example.com", "sub": "alice", "client_id": "app",
		"scope": "read write", "exp": time.Now().Add(time.Hour).Unix()}
	for _, authz := range []string{
		"Bearer " + iss.token("at+jwt", claims),
		"",
		"Bearer " + iss.token("JWT", claims), // not an access token
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			fmt.Println(rec.Code, rec.Body)
			continue
		}
		fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	// Output:
	// 200 hello alice (client app)
	// 401 Bearer
	// 401 Bearer error="invalid_token", error_description="the token is not an access token"
}

// Verify checks a token outside HTTP middleware (a gRPC interceptor, a
// WebSocket handshake...).
func ExampleVerifier_Verify() {
	iss := exampleIssuer{ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}
	v, err := bearer.NewVerifier(context.Background(), bearer.Config{
		Issuer:     "https://auth.example.com",
		Audience:   "https://api.example.com",
		StaticKeys: []jwks.Key{{ID: "key-1", Public: iss.priv.Public()}},
	})
	if err != nil {
		log.Fatal(err)
	}
	expired := iss.token("at+jwt", map[string]any{"sub": "alice", "exp": time.Now().Add(-time.Hour).Unix()})
	_, err = v.Verify(context.Background(), expired)
	fmt.Println(errors.Is(err, bearer.ErrExpired), err)
	// Output: true bearer: token expired
}
