package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tokengate/tokengate/client"
)

// tokenPrint logs in (or resumes the cached session), refreshes when
// needed and prints a valid access token, like
// `gcloud auth print-access-token`. Secrets come from the environment or
// stdin, never from argv, where other users could read them.
func (m *Main) tokenPrint(ctx context.Context, args []string, logout bool) error {
	name := "token"
	if logout {
		name = "token logout"
	}
	flags := m.newCmd(name, "")
	baseURL := flags.String("url", "", "server URL (env TOKENGATE_URL)")
	var contracts []string
	for _, c := range client.Contracts() {
		contracts = append(contracts, string(c))
	}
	contract := flags.String("contract", "", "API contract: "+strings.Join(contracts, ", ")+" (env TOKENGATE_CONTRACT)")
	clientID := flags.String("client-id", "", "client id (env TOKENGATE_CLIENT_ID; secret in TOKENGATE_CLIENT_SECRET)")
	username := flags.String("username", "", "user name (env TOKENGATE_USERNAME; password in TOKENGATE_PASSWORD, else read from stdin)")
	scope := flags.String("scope", "", "space-separated scopes to request")
	cache := flags.String("cache", "", "token cache file (default: one per server and identity under the user config dir)")
	device := flags.Bool("device", false, "sign in with the device flow (RFC 8628): open the printed address on any device, sign in there and enter the code; needs only the client id")
	if _, err := flags.parse(args); err != nil {
		return err
	}
	env := func(flagVal *string, key string) string {
		if *flagVal != "" {
			return *flagVal
		}
		return m.Getenv(key)
	}
	cfg := client.Config{
		BaseURL:      env(baseURL, "TOKENGATE_URL"),
		Contract:     client.Contract(env(contract, "TOKENGATE_CONTRACT")),
		ClientID:     env(clientID, "TOKENGATE_CLIENT_ID"),
		ClientSecret: m.Getenv("TOKENGATE_CLIENT_SECRET"),
		Username:     env(username, "TOKENGATE_USERNAME"),
		Password:     m.Getenv("TOKENGATE_PASSWORD"),
		APIKey:       m.Getenv("TOKENGATE_API_KEY"),
		Scopes:       strings.Fields(*scope),
	}
	if cfg.BaseURL == "" {
		fmt.Fprintln(m.Stderr, "tokengate token: give the server with --url or TOKENGATE_URL")
		return errUsage
	}
	if *device && !logout {
		if cfg.Username != "" || cfg.Password != "" || cfg.APIKey != "" {
			fmt.Fprintln(m.Stderr, "tokengate token --device: the person signs in in the browser; give no username, password or API key")
			return errUsage
		}
		if cfg.ClientID == "" {
			fmt.Fprintln(m.Stderr, "tokengate token --device: give the client with --client-id or TOKENGATE_CLIENT_ID")
			return errUsage
		}
	}
	path := *cache
	if path == "" {
		def, err := client.DefaultCachePath()
		if err != nil {
			return err
		}
		// One cache per server and identity, named by a hash so that no
		// user name or URL appears in the file name.
		parts := []string{cfg.BaseURL, string(cfg.Contract), cfg.ClientID, cfg.Username, hashIfSet(cfg.APIKey)}
		if *device {
			parts = append(parts, "device") // a person's session, not the client's own
		}
		id := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
		path = filepath.Join(filepath.Dir(def), "tokens-"+hex.EncodeToString(id[:8])+".json")
	}
	store := client.FileStore(path)
	if logout {
		if err := store.Remove(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		fmt.Fprintln(m.Stdout, "cached tokens removed")
		return nil
	}
	saved, err := store.Load()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading the token cache: %w", err)
	}
	// A cached session is used only if it satisfies the request: its
	// access token must carry every scope asked for (a refresh keeps the
	// session's scopes, so a narrower session cannot be widened by one).
	if len(cfg.Scopes) > 0 && saved.AccessToken != "" && !hasScopes(saved.AccessToken, cfg.Scopes) {
		saved = client.Tokens{}
		if err := store.Remove(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("replacing the token cache: %w", err)
		}
	}
	// The cache is the session's Store: concurrent runs refresh it once,
	// under its lock, and a refresh whose answer was lost is retried
	// once (the server's refresh_reuse_interval must exceed the
	// client's 30 s timeout for that retry to be accepted).
	if *device {
		return m.deviceToken(ctx, cfg, store, saved)
	}
	cfg.AccessToken, cfg.RefreshToken, cfg.Expiry = saved.AccessToken, saved.RefreshToken, saved.Expiry
	cfg.Store = store
	if cfg.Username != "" && cfg.Password == "" && cfg.RefreshToken == "" {
		pw, err := m.readSecret("password for "+cfg.Username+": ", false)
		if err != nil {
			return err
		}
		cfg.Password = pw
	}
	c, err := client.New(ctx, cfg)
	if err != nil {
		return err
	}
	tok, err := c.Token(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(m.Stdout, tok)
	return nil
}

// deviceToken prints an access token of the person's device-flow
// session: the cached one (refreshed when needed) or, when there is none
// or it has ended, a new one after the person approves the printed code.
func (m *Main) deviceToken(ctx context.Context, cfg client.Config, store client.FileStore, saved client.Tokens) error {
	cfg.Store = store
	if saved.RefreshToken != "" {
		resumed := cfg
		resumed.AccessToken, resumed.RefreshToken, resumed.Expiry = saved.AccessToken, saved.RefreshToken, saved.Expiry
		c, err := client.New(ctx, resumed)
		if err == nil {
			var tok string
			if tok, err = c.Token(ctx); err == nil {
				fmt.Fprintln(m.Stdout, tok)
				return nil
			}
		}
		if !errors.Is(err, client.ErrSessionExpired) {
			return err
		}
	}
	c, err := client.DeviceLogin(ctx, cfg, func(uri, code string) {
		fmt.Fprintf(m.Stderr, "To sign in, open %s and enter the code %s\nWaiting for approval...\n", uri, code)
	})
	if err != nil {
		return err
	}
	tok, err := c.Token(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(m.Stdout, tok)
	return nil
}

func hashIfSet(s string) string {
	if s == "" {
		return ""
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// hasScopes reports whether the JWT access token's scope claim holds
// every scope in want. The token is the caller's own cached one and the
// answer only decides whether to log in again, so its signature is not
// checked here; a token that cannot be read does not satisfy.
func hasScopes(accessToken string, want []string) bool {
	parts := strings.Split(accessToken, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Scope string `json:"scope"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return false
	}
	have := strings.Fields(claims.Scope)
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
