package jwks_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/jwks"
)

// The program of the package's README: verify a JWT of an issuer with
// the keys it publishes. Compiled, not run: it needs a real issuer.
func Example_program() {
	ctx := context.Background()
	keys, err := jwks.NewRemote(jwks.Options{
		Issuer:             "https://idp.example.com", // OIDC discovery, then RFC 8414
		MinRefetchInterval: time.Minute,               // unknown kids refetch at most this often
		MaxAge:             time.Hour,                 // older sets are refetched in the background
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := keys.Refresh(ctx); err != nil {
		log.Fatal(err) // no keys, no start
	}
	raw := "eyJ..." // a token to verify
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		log.Fatal(err)
	}
	h := tok.Headers[0]
	candidates, err := keys.Keys(ctx, h.KeyID, h.Algorithm) // refetches on an unknown kid
	if err != nil {
		log.Fatal(err) // jwks.ErrUnknownKey, jwks.ErrAlgorithm, jwks.ErrUnavailable
	}
	var claims jwt.Claims
	for _, k := range candidates {
		if tok.Claims(k.Public, &claims) == nil {
			fmt.Println("verified:", claims.Subject)
		}
	}
}

// Keys distributed out of band make a static set; it never fetches.
func ExampleNewStatic() {
	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public()
	keys, err := jwks.NewStatic([]jwks.Key{{ID: "key-1", Public: pub}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	got, _ := keys.Keys(context.Background(), "key-1", "EdDSA")
	fmt.Println(got[0].ID, got[0].Algorithm)
	_, err = keys.Keys(context.Background(), "key-1", "RS256")
	fmt.Println(err)
	// Output:
	// key-1 EdDSA
	// jwks: the key named by kid does not verify this algorithm
}
