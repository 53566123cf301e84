package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokengate/tokengate/internal/admin"
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/server"
	"github.com/tokengate/tokengate/internal/store"
)

// sub splits "NOUN VERB ..." and complains about a missing verb.
func (m *Main) sub(noun string, args []string, verbs string) (string, []string, error) {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintf(m.Stdout, "usage: tokengate %s %s [flags]\n(tokengate %s VERB --help lists a verb's flags)\n", noun, verbs, noun)
		return "", nil, flag.ErrHelp
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(m.Stderr, "usage: tokengate %s %s\n", noun, verbs)
		return "", nil, errUsage
	}
	return args[0], args[1:], nil
}

func (m *Main) badVerb(noun, verb, verbs string) error {
	fmt.Fprintf(m.Stderr, "tokengate %s: unknown subcommand %q (want %s)\n", noun, verb, verbs)
	return errUsage
}

// oneArg checks a command got exactly one positional argument.
func (m *Main) oneArg(cmd string, pos []string, what string) (string, error) {
	if len(pos) != 1 || pos[0] == "" {
		fmt.Fprintf(m.Stderr, "usage: tokengate %s %s [flags]\n", cmd, what)
		return "", errUsage
	}
	return pos[0], nil
}

func (m *Main) printJSON(v any) error {
	enc := json.NewEncoder(m.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (m *Main) user(ctx context.Context, args []string) error {
	const verbs = "add|list|passwd|disable|enable|delete|import"
	verb, args, err := m.sub("user", args, verbs)
	if err != nil {
		return err
	}
	var fs *cmdFlags
	switch verb {
	case "list":
		fs = m.newCmd("user "+verb, verb)
	case "import":
		fs = m.newCmd("user "+verb, verb, "FILE")
	case "add", "passwd", "disable", "enable", "delete":
		fs = m.newCmd("user "+verb, verb, "NAME")
	default:
		return m.badVerb("user", verb, verbs)
	}
	var c common
	c.register(fs.FlagSet)
	scopes := fs.str("add", "scopes", "", `space-separated scopes the user may be granted`)
	asJSON := fs.boolean("list", "json", "JSON output")
	keepSessions := fs.boolean("passwd", "keep-sessions", "keep the user's sessions and tokens valid; by default a password change ends them")
	format := fs.str("import", "format", "", "jsonl or csv; default: detected from the content")
	allowWeak := fs.boolean("import", "allow-weak-hashes", "import unsalted MD5/SHA-1 hashes too; they are upgraded to argon2id at the first login")
	batch := fs.integer("import", "batch", 500, "users created per transaction")
	var rf remoteFlags
	rf.register(fs.FlagSet)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if verb == "import" {
		file, err := m.oneArg("user import", pos, "FILE")
		if err != nil {
			return err
		}
		o := admin.ImportOptions{Format: admin.ImportFormat(*format), AllowWeak: *allowWeak, BatchSize: *batch}
		if m.remoteOn(&rf) {
			return m.remoteImportUsers(ctx, rf, file, o)
		}
		return m.withStore(ctx, c, func(cfg config.Config, st store.Store) error {
			return m.importUsers(ctx, cfg, st, file, o)
		})
	}
	if m.remoteOn(&rf) {
		return m.remoteUser(ctx, rf, verb, pos, *scopes, *keepSessions, *asJSON)
	}
	switch verb {
	case "list":
		return m.withStore(ctx, c, func(_ config.Config, st store.Store) error {
			users, err := (&admin.Users{Store: st}).List(ctx)
			if err != nil {
				return err
			}
			if *asJSON {
				type row struct {
					Username string    `json:"username"`
					Disabled bool      `json:"disabled"`
					Scopes   []string  `json:"scopes"`
					Created  time.Time `json:"created_at"`
				}
				out := make([]row, 0, len(users))
				for _, u := range users {
					out = append(out, row{u.Username, u.Disabled, nonNil(u.Scopes), u.CreatedAt.UTC()})
				}
				return m.printJSON(out)
			}
			tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tDISABLED\tSCOPES\tCREATED")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", u.Username, u.Disabled, strings.Join(u.Scopes, " "), fmtTime(u.CreatedAt))
			}
			return tw.Flush()
		})
	case "add", "passwd", "disable", "enable", "delete":
	default:
		return m.badVerb("user", verb, verbs)
	}
	name, err := m.oneArg("user "+verb, pos, "NAME")
	if err != nil {
		return err
	}
	return m.withRecord(ctx, c, record{"user", name}, func(cfg config.Config, st store.Store) error {
		users := &admin.Users{Store: st, Hash: func(ctx context.Context, pw string) (string, error) {
			h, err := server.NewHasher(&cfg)
			if err != nil {
				return "", err
			}
			return h.Hash(ctx, pw)
		}}
		switch verb {
		case "add", "passwd":
			if store.IsExternalUsername(name) {
				// That namespace is for users provisioned for external
				// identities; they log in only through their provider.
				return fmt.Errorf("user %q: names starting with %q are reserved for users provisioned for external identities", name, store.ExternalUserPrefix)
			}
			// Before asking for a password, say whether it can be used.
			if _, err := users.Get(ctx, name); verb == "passwd" && err != nil {
				return err
			} else if verb == "add" && err == nil {
				return fmt.Errorf("user %q: %w", name, store.ErrConflict)
			}
			pw, err := m.readSecret("password for "+name+": ", true)
			if err != nil {
				return err
			}
			if verb == "passwd" {
				n, err := users.SetPassword(ctx, name, pw, *keepSessions)
				if err != nil {
					return err
				}
				if *keepSessions {
					fmt.Fprintf(m.Stdout, "password of %s changed; sessions kept\n", name)
				} else {
					fmt.Fprintf(m.Stdout, "password of %s changed; %d session(s) ended\n", name, n)
				}
				return nil
			}
			if err := users.Add(ctx, name, pw, strings.Fields(*scopes)); err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "user %s added\n", name)
		case "disable", "enable":
			n, err := users.SetDisabled(ctx, name, verb == "disable")
			if err != nil {
				return err
			}
			if verb == "disable" {
				fmt.Fprintf(m.Stdout, "user %s disabled; %d session(s) ended\n", name, n)
			} else {
				fmt.Fprintf(m.Stdout, "user %s enabled\n", name)
			}
		case "delete":
			if err := users.Delete(ctx, name); err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "user %s deleted; its sessions are revoked\n", name)
		}
		return nil
	})
}

// importUsers runs admin.ImportUsers on file and prints its counts, and
// each refused record with its line and reason (never a hash). Anything
// refused makes the command fail.
func (m *Main) importUsers(ctx context.Context, cfg config.Config, st store.Store, file string, o admin.ImportOptions) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	h, err := server.NewHasher(&cfg)
	if err != nil {
		return err
	}
	users := &admin.Users{Store: st, Hash: h.Hash}
	rep, err := users.ImportUsers(ctx, f, o)
	return m.printImport("user", file, rep, err)
}

// printImport prints an import's counts and each refused record with its
// line, its user or client and the reason (never a hash or secret);
// anything refused makes the command fail. kind is "user" or "client".
func (m *Main) printImport(kind, file string, rep admin.ImportReport, err error) error {
	for _, r := range rep.Refused {
		who := ""
		if name := r.Username + r.ClientID; name != "" {
			who = fmt.Sprintf(" (%s %q)", kind, name)
		}
		fmt.Fprintf(m.Stderr, "%s:%d%s: refused: %s\n", file, r.Line, who, r.Reason)
	}
	if rep.Created == 0 && len(rep.Refused) == 0 && err == nil {
		fmt.Fprintf(m.Stdout, "nothing to do: all %d %s(s) already exist unchanged\n", rep.Unchanged, kind)
		return nil
	}
	fmt.Fprintf(m.Stdout, "%d created, %d unchanged, %d refused\n", rep.Created, rep.Unchanged, len(rep.Refused))
	if err != nil {
		return err
	}
	if n := len(rep.Refused); n > 0 {
		return fmt.Errorf("%d record(s) refused; the others were imported", n)
	}
	return nil
}

// importClients runs admin.ImportClients on file and prints what it did
// (printImport).
func (m *Main) importClients(ctx context.Context, _ config.Config, st store.Store, file string, o admin.ImportOptions) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := (&admin.Clients{Store: st}).ImportClients(ctx, f, o)
	return m.printImport("client", file, rep, err)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (m *Main) client(ctx context.Context, args []string) error {
	const verbs = "add|list|get|delete|rotate-secret|import"
	verb, args, err := m.sub("client", args, verbs)
	if err != nil {
		return err
	}
	var fs *cmdFlags
	switch verb {
	case "list":
		fs = m.newCmd("client "+verb, verb)
	case "import":
		fs = m.newCmd("client "+verb, verb, "FILE")
	case "add", "get", "delete", "rotate-secret":
		fs = m.newCmd("client "+verb, verb, "ID")
	default:
		return m.badVerb("client", verb, verbs)
	}
	var c common
	c.register(fs.FlagSet)
	grants := fs.str("add", "grants", "", "comma-separated grant types (required), e.g. password,refresh_token,client_credentials")
	scopes := fs.str("add", "scopes", "", "space-separated scopes the client may request")
	public := fs.boolean("add", "public", "public client without a secret")
	secretStdin := fs.boolean("add", "secret-stdin", "import an existing secret from stdin instead of generating one")
	noIntrospect := fs.boolean("add", "no-introspect", "withhold token introspection from this confidential client")
	resources := fs.str("add", "resources", "", "space-separated audiences (RFC 8707 resource) the client may ask tokens for (default the configured audience)")
	redirectURIs := fs.str("add", "redirect-uris", "", "comma-separated redirect URIs (authorization_code grant; required with it)")
	thirdParty := fs.boolean("add", "third-party", "ask users for consent before this client gets a code")
	origins := fs.str("add", "origins", "", "comma-separated browser origins allowed CORS at the token and revocation endpoints, e.g. https://app.example")
	asJSON := fs.boolean("list|get", "json", "JSON output")
	format := fs.str("import", "format", "", "jsonl or csv; default: detected from the content")
	allowWeak := fs.boolean("import", "allow-weak-hashes", "import unsalted MD5/SHA-1 secret hashes too; they are replaced at the first authentication")
	batch := fs.integer("import", "batch", 500, "clients created per transaction")
	var rf remoteFlags
	rf.register(fs.FlagSet)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if verb == "import" {
		file, err := m.oneArg("client import", pos, "FILE")
		if err != nil {
			return err
		}
		o := admin.ImportOptions{Format: admin.ImportFormat(*format), AllowWeak: *allowWeak, BatchSize: *batch}
		if m.remoteOn(&rf) {
			return m.remoteImportClients(ctx, rf, file, o)
		}
		return m.withStore(ctx, c, func(cfg config.Config, st store.Store) error {
			return m.importClients(ctx, cfg, st, file, o)
		})
	}
	if m.remoteOn(&rf) {
		switch verb {
		case "add", "list", "get", "delete", "rotate-secret":
		default:
			return m.badVerb("client", verb, verbs)
		}
		if verb == "add" && len(splitComma(*grants)) == 0 {
			fmt.Fprintln(m.Stderr, "tokengate client add: --grants is required, e.g. --grants password,refresh_token")
			return errUsage
		}
		return m.remoteClient(ctx, rf, verb, pos, clientAddFlags{grants: splitComma(*grants), scopes: *scopes, public: *public,
			redirectURIs: splitComma(*redirectURIs), thirdParty: *thirdParty, origins: splitComma(*origins)}, *secretStdin, *asJSON)
	}
	switch verb {
	case "list":
		return m.withStore(ctx, c, func(_ config.Config, st store.Store) error {
			cls, err := (&admin.Clients{Store: st}).List(ctx)
			if err != nil {
				return err
			}
			if *asJSON {
				type row struct {
					ID      string    `json:"client_id"`
					Public  bool      `json:"public"`
					Grants  []string  `json:"grants"`
					Scopes  []string  `json:"scopes"`
					Created time.Time `json:"created_at"`
				}
				out := make([]row, 0, len(cls))
				for _, cl := range cls {
					out = append(out, row{cl.ID, cl.Public, nonNil(cl.Grants), nonNil(cl.Scopes), cl.CreatedAt.UTC()})
				}
				return m.printJSON(out)
			}
			tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT_ID\tPUBLIC\tGRANTS\tSCOPES\tCREATED")
			for _, cl := range cls {
				fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\n", cl.ID, cl.Public, strings.Join(cl.Grants, ","), strings.Join(cl.Scopes, " "), fmtTime(cl.CreatedAt))
			}
			return tw.Flush()
		})
	case "add", "get", "delete", "rotate-secret":
	default:
		return m.badVerb("client", verb, verbs)
	}
	id, err := m.oneArg("client "+verb, pos, "ID")
	if err != nil {
		return err
	}
	switch verb {
	case "get":
		return m.withRecord(ctx, c, record{"client", id}, func(_ config.Config, st store.Store) error {
			cl, err := (&admin.Clients{Store: st}).Get(ctx, id)
			if err != nil {
				return err
			}
			if *asJSON {
				return m.printJSON(map[string]any{"client_id": cl.ID, "public": cl.Public, "grants": nonNil(cl.Grants), "scopes": nonNil(cl.Scopes),
					"access_token_ttl": int64(cl.AccessTokenTTL / time.Second), "refresh_token_ttl": int64(cl.RefreshTokenTTL / time.Second),
					"refresh_reuse_interval": int64(cl.RefreshReuseInterval / time.Second), "created_at": cl.CreatedAt.UTC()})
			}
			fmt.Fprintf(m.Stdout, "client_id: %s\npublic: %v\ngrants: %s\nscopes: %s\naccess_token_ttl: %s\nrefresh_token_ttl: %s\nrefresh_reuse_interval: %s\ncreated: %s\n",
				cl.ID, cl.Public, strings.Join(cl.Grants, ","), strings.Join(cl.Scopes, " "), cl.AccessTokenTTL, cl.RefreshTokenTTL, cl.RefreshReuseInterval, fmtTime(cl.CreatedAt))
			return nil
		})
	case "delete":
		return m.withRecord(ctx, c, record{"client", id}, func(_ config.Config, st store.Store) error {
			if err := (&admin.Clients{Store: st}).Delete(ctx, id); err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "client %s deleted; its sessions are revoked\n", id)
			return nil
		})
	case "rotate-secret":
		return m.withRecord(ctx, c, record{"client", id}, func(_ config.Config, st store.Store) error {
			sec, err := (&admin.Clients{Store: st}).RotateSecret(ctx, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "client_secret of %s rotated; the old one no longer works\nclient_secret: %s\n(shown once; only its hash is stored)\n", id, sec)
			return nil
		})
	}
	gl := splitComma(*grants)
	if len(gl) == 0 {
		fmt.Fprintln(m.Stderr, "tokengate client add: --grants is required, e.g. --grants password,refresh_token")
		return errUsage
	}
	if *public && *secretStdin {
		fmt.Fprintln(m.Stderr, "tokengate client add: a --public client has no secret to import")
		return errUsage
	}
	for _, r := range strings.Fields(*resources) {
		if !config.AbsoluteURI(r) {
			fmt.Fprintf(m.Stderr, "tokengate client add: --resources: %.100q is not an absolute URI without a fragment\n", r)
			return errUsage
		}
	}
	return m.withRecord(ctx, c, record{"client", id}, func(_ config.Config, st store.Store) error {
		var imported string
		if *secretStdin {
			var err error
			if imported, err = m.readSecret("client secret: ", false); err != nil {
				return err
			}
		}
		_, sec, err := (&admin.Clients{Store: st}).Add(ctx, admin.NewClient{ID: id, Public: *public, Secret: imported, Grants: gl, Scopes: strings.Fields(*scopes),
			NoIntrospect: *noIntrospect, Resources: strings.Fields(*resources),
			RedirectURIs: splitComma(*redirectURIs), ThirdParty: *thirdParty, Origins: splitComma(*origins)})
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "client %s added\n", id)
		if sec != "" {
			fmt.Fprintf(m.Stdout, "client_secret: %s\n(shown once; only its hash is stored)\n", sec)
		}
		return nil
	})
}

func splitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (m *Main) apikey(ctx context.Context, args []string) error {
	const verbs = "create|list|revoke"
	verb, args, err := m.sub("apikey", args, verbs)
	if err != nil {
		return err
	}
	var fs *cmdFlags
	switch verb {
	case "create", "list":
		fs = m.newCmd("apikey "+verb, verb)
	case "revoke":
		fs = m.newCmd("apikey "+verb, verb, "ID")
	default:
		return m.badVerb("apikey", verb, verbs)
	}
	var c common
	c.register(fs.FlagSet)
	user := fs.str("create", "user", "", "owner user")
	if verb == "list" {
		fs.StringVar(user, "user", "", "only the keys of this user (required with --server)")
	}
	clientID := fs.str("create", "client", "", "owner client")
	scope := fs.str("create", "scope", "", "space-separated scopes of the key")
	expires := fs.str("create", "expires", "", "lifetime, e.g. 90d or 720h (default never)")
	name := fs.str("create", "name", "", "label")
	asJSON := fs.boolean("list", "json", "JSON output")
	var rf remoteFlags
	rf.register(fs.FlagSet)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	remote := m.remoteOn(&rf)
	if remote && verb != "create" {
		if verb != "list" && verb != "revoke" {
			return m.badVerb("apikey", verb, verbs)
		}
		return m.remoteAPIKey(ctx, rf, verb, pos, *user, *clientID, *scope, *name, 0, *asJSON)
	}
	switch verb {
	case "create":
		if len(pos) != 0 || (*user == "") == (*clientID == "") {
			fmt.Fprintln(m.Stderr, "usage: tokengate apikey create --user NAME | --client ID [--scope S] [--expires 90d] [--name LABEL]")
			return errUsage
		}
		var exp time.Duration
		if *expires != "" {
			if exp, err = config.ParseDuration(*expires); err != nil || exp <= 0 {
				fmt.Fprintf(m.Stderr, "tokengate apikey create: bad --expires %q (use e.g. 90d)\n", *expires)
				return errUsage
			}
		}
		if remote {
			return m.remoteAPIKey(ctx, rf, verb, pos, *user, *clientID, *scope, *name, exp, *asJSON)
		}
		return m.withRecord(ctx, c, keyOwner(*user, *clientID), func(_ config.Config, st store.Store) error {
			key, rec, err := (&admin.APIKeys{Store: st}).Create(ctx, admin.NewKey{Name: *name, Username: *user, ClientID: *clientID, Scopes: strings.Fields(*scope), ExpiresIn: exp})
			if err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "api key %s created\n%s\n(shown once; only its hash is stored)\n", rec.ID, key)
			return nil
		})
	case "list":
		return m.withRecord(ctx, c, keyOwner(*user, ""), func(_ config.Config, st store.Store) error {
			keys, err := (&admin.APIKeys{Store: st}).List(ctx, *user)
			if err != nil {
				return err
			}
			if *asJSON {
				type row struct {
					ID       string     `json:"id"`
					Name     string     `json:"name"`
					Owner    string     `json:"owner"`
					Prefix   string     `json:"prefix"`
					Last4    string     `json:"last4"`
					Scopes   []string   `json:"scopes"`
					Created  time.Time  `json:"created_at"`
					LastUsed *time.Time `json:"last_used_at"`
					Expires  *time.Time `json:"expires_at"`
					Revoked  bool       `json:"revoked"`
				}
				opt := func(t time.Time) *time.Time {
					if t.IsZero() {
						return nil
					}
					u := t.UTC()
					return &u
				}
				out := make([]row, 0, len(keys))
				for _, k := range keys {
					out = append(out, row{k.ID, k.Name, owner(k), k.Prefix, k.Last4, nonNil(k.Scopes), k.CreatedAt.UTC(), opt(k.LastUsedAt), opt(k.ExpiresAt), !k.RevokedAt.IsZero()})
				}
				return m.printJSON(out)
			}
			tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tOWNER\tKEY\tSCOPES\tCREATED\tLAST USED\tEXPIRES\tREVOKED")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s…%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, owner(k), k.Prefix, k.Last4, strings.Join(k.Scopes, " "),
					fmtTime(k.CreatedAt), fmtTime(k.LastUsedAt), fmtTime(k.ExpiresAt), fmtTime(k.RevokedAt))
			}
			return tw.Flush()
		})
	case "revoke":
		id, err := m.oneArg("apikey revoke", pos, "ID")
		if err != nil {
			return err
		}
		return m.withRecord(ctx, c, record{"api key", id}, func(_ config.Config, st store.Store) error {
			if err := (&admin.APIKeys{Store: st}).Revoke(ctx, id); err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "api key %s revoked\n", id)
			return nil
		})
	}
	return m.badVerb("apikey", verb, verbs)
}

// keyOwner is the record an API key command about an owner addresses.
func keyOwner(user, clientID string) record {
	switch {
	case user != "":
		return record{"user", user}
	case clientID != "":
		return record{"client", clientID}
	}
	return record{}
}

func owner(k store.APIKey) string {
	if k.Username != "" {
		return "user:" + k.Username
	}
	return "client:" + k.ClientID
}

func (m *Main) keysCmd(ctx context.Context, args []string) error {
	const verbs = "list|rotate|revoke KID"
	verb, args, err := m.sub("keys", args, verbs)
	if err != nil {
		return err
	}
	var fs *cmdFlags
	switch verb {
	case "list", "rotate":
		fs = m.newCmd("keys "+verb, verb)
	case "revoke":
		fs = m.newCmd("keys "+verb, verb, "KID")
	default:
		return m.badVerb("keys", verb, verbs)
	}
	var c common
	c.register(fs.FlagSet)
	asJSON := fs.boolean("list", "json", "JSON output")
	var rf remoteFlags
	if verb != "revoke" {
		// The admin API has no key revocation.
		rf.register(fs.FlagSet)
	}
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if m.remoteOn(&rf) {
		if verb == "revoke" {
			return errors.New("keys revoke runs against the database (--db), not remotely: the admin API has no key revocation")
		}
		return m.remoteKeys(ctx, rf, verb, *asJSON)
	}
	var rec record
	if verb == "revoke" {
		rec = record{"signing key", pos[0]}
	}
	return m.withRecord(ctx, c, rec, func(cfg config.Config, st store.Store) error {
		km, err := server.NewKeyManager(&cfg, st, nil)
		if err != nil {
			return err
		}
		if err := km.Init(ctx); err != nil {
			return err
		}
		if verb == "revoke" {
			k, err := km.Revoke(ctx, pos[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("signing key %q: %w", pos[0], store.ErrNotFound)
			}
			if err != nil {
				return err
			}
			if k.ID != "" {
				fmt.Fprintf(m.Stdout, "new active signing key %s (%s)\n", k.ID, k.Algorithm)
			}
			fmt.Fprintf(m.Stdout, "signing key %s revoked: gone from the JWKS, its tokens inactive\n", pos[0])
			return nil
		}
		keys := &admin.Keys{Manager: km}
		if verb == "rotate" {
			k, err := keys.Rotate(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "new active signing key %s (%s); previous key stays published until its tokens expire\n", k.ID, k.Algorithm)
			return nil
		}
		infos, err := keys.List(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return m.printJSON(infos)
		}
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tACTIVE\tCREATED\tRETIRED\tEXPIRES\tREVOKED\tPURPOSE")
		for _, k := range infos {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.Active, fmtTime(k.CreatedAt), fmtTime(k.RetiredAt), fmtTime(k.ExpiresAt), fmtTime(k.RevokedAt), keyPurpose(k.Purpose))
		}
		return tw.Flush()
	})
}

func (m *Main) tokenCmd(ctx context.Context, args []string) error {
	const verbs = "[print]|logout|revoke"
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return m.tokenPrint(ctx, args, false)
	}
	verb, args := args[0], args[1:]
	switch verb {
	case "print":
		return m.tokenPrint(ctx, args, false)
	case "logout":
		return m.tokenPrint(ctx, args, true)
	case "revoke":
	default:
		return m.badVerb("token", verb, verbs)
	}
	fs := m.newCmd("token revoke", "")
	var c common
	c.register(fs.FlagSet)
	user := fs.String("user", "", "revoke every refresh token of this user (required)")
	var rf remoteFlags
	rf.register(fs.FlagSet)
	if _, err := fs.parse(args); err != nil {
		return err
	}
	if *user == "" {
		fmt.Fprintln(m.Stderr, "usage: tokengate token revoke --user NAME")
		return errUsage
	}
	if m.remoteOn(&rf) {
		return m.remoteRevokeUser(ctx, rf, *user)
	}
	return m.withRecord(ctx, c, record{"user", *user}, func(_ config.Config, st store.Store) error {
		n, err := (&admin.Users{Store: st}).EndSessions(ctx, *user)
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "revoked %d session(s) of %s; its access tokens are inactive\n", n, *user)
		return nil
	})
}
