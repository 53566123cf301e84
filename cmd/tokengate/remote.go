package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokengate/tokengate/client/admin"
	iadmin "github.com/tokengate/tokengate/internal/admin"
)

// remoteFlags select the remote mode of the administration commands:
// --server URL calls the admin API through the SDK instead of opening
// the database. The admin client's secret comes from the environment,
// never from argv.
type remoteFlags struct {
	server   string
	clientID string
}

func (r *remoteFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.server, "server", "", "administer a running server over its admin API instead of --db (env TOKENGATE_SERVER)")
	fs.StringVar(&r.clientID, "admin-client", "", "the admin client's id, for --server (env TOKENGATE_ADMIN_CLIENT_ID; secret in TOKENGATE_ADMIN_CLIENT_SECRET)")
}

// on reports whether the command runs remotely, filling defaults from
// the environment.
func (m *Main) remoteOn(r *remoteFlags) bool {
	if r.server == "" {
		r.server = m.Getenv("TOKENGATE_SERVER")
	}
	if r.clientID == "" {
		r.clientID = m.Getenv("TOKENGATE_ADMIN_CLIENT_ID")
	}
	return r.server != ""
}

// adminClient logs in to the admin API with client_credentials.
func (m *Main) adminClient(ctx context.Context, r remoteFlags) (*admin.Client, error) {
	secret := m.Getenv("TOKENGATE_ADMIN_CLIENT_SECRET")
	if r.clientID == "" || secret == "" {
		return nil, errors.New("--server needs the admin client's credentials: --admin-client ID (or TOKENGATE_ADMIN_CLIENT_ID) and TOKENGATE_ADMIN_CLIENT_SECRET")
	}
	return admin.NewWithCredentials(ctx, r.server, r.clientID, secret)
}

func optT(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// remoteUser runs a user command over the admin API.
func (m *Main) remoteUser(ctx context.Context, r remoteFlags, verb string, pos []string, scopes string, keep, asJSON bool) error {
	adm, err := m.adminClient(ctx, r)
	if err != nil {
		return err
	}
	if verb == "list" {
		all, err := allPages(func(opt admin.ListOptions) (*admin.Page[admin.User], error) { return adm.ListUsers(ctx, opt) })
		if err != nil {
			return err
		}
		if asJSON {
			return m.printJSON(all)
		}
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tDISABLED\tSCOPES\tCREATED")
		for _, u := range all {
			fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", u.Username, u.Disabled, strings.Join(u.Scopes, " "), fmtTime(u.CreatedAt))
		}
		return tw.Flush()
	}
	name, err := m.oneArg("user "+verb, pos, "NAME")
	if err != nil {
		return err
	}
	switch verb {
	case "add", "passwd":
		pw, err := m.readSecret("password for "+name+": ", true)
		if err != nil {
			return err
		}
		if verb == "add" {
			if _, err := adm.CreateUser(ctx, admin.NewUser{Username: name, Password: pw, Scopes: strings.Fields(scopes)}); err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "user %s added\n", name)
			return nil
		}
		n, err := adm.SetPassword(ctx, name, pw, keep)
		if err != nil {
			return err
		}
		if keep {
			fmt.Fprintf(m.Stdout, "password of %s changed; sessions kept\n", name)
		} else {
			fmt.Fprintf(m.Stdout, "password of %s changed; %d session(s) ended\n", name, n)
		}
	case "disable", "enable":
		d := verb == "disable"
		if _, err := adm.UpdateUser(ctx, name, admin.UserChange{Disabled: &d}); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "user %s %sd\n", name, verb)
	case "delete":
		if err := adm.DeleteUser(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "user %s deleted; its sessions are revoked\n", name)
	default:
		return m.badVerb("user", verb, "add|list|passwd|disable|enable|delete")
	}
	return nil
}

// remoteClient runs a client command over the admin API.
// clientAddFlags are the flags of client add that the admin API takes.
type clientAddFlags struct {
	grants       []string
	scopes       string
	public       bool
	redirectURIs []string
	thirdParty   bool
	origins      []string
}

func (m *Main) remoteClient(ctx context.Context, r remoteFlags, verb string, pos []string, f clientAddFlags, secretStdin, asJSON bool) error {
	if secretStdin {
		return errors.New("--secret-stdin is not available with --server: the admin API generates secrets")
	}
	adm, err := m.adminClient(ctx, r)
	if err != nil {
		return err
	}
	if verb == "list" {
		all, err := allPages(func(opt admin.ListOptions) (*admin.Page[admin.OAuthClient], error) { return adm.ListClients(ctx, opt) })
		if err != nil {
			return err
		}
		if asJSON {
			return m.printJSON(all)
		}
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT_ID\tPUBLIC\tGRANTS\tSCOPES\tCREATED")
		for _, cl := range all {
			fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\n", cl.ClientID, cl.Public, strings.Join(cl.Grants, ","), strings.Join(cl.Scopes, " "), fmtTime(cl.CreatedAt))
		}
		return tw.Flush()
	}
	id, err := m.oneArg("client "+verb, pos, "ID")
	if err != nil {
		return err
	}
	switch verb {
	case "add":
		_, sec, err := adm.CreateClient(ctx, admin.NewOAuthClient{ClientID: id, Public: f.public, Grants: f.grants, Scopes: strings.Fields(f.scopes),
			RedirectURIs: f.redirectURIs, ThirdParty: f.thirdParty, Origins: f.origins})
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "client %s added\n", id)
		if sec != "" {
			fmt.Fprintf(m.Stdout, "client_secret: %s\n(shown once; only its hash is stored)\n", sec)
		}
	case "get":
		cl, err := adm.GetClient(ctx, id)
		if err != nil {
			return err
		}
		return m.printJSON(cl)
	case "delete":
		if err := adm.DeleteClient(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "client %s deleted; its sessions are revoked\n", id)
	case "rotate-secret":
		sec, err := adm.RotateClientSecret(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "client_secret of %s rotated; the old one no longer works\nclient_secret: %s\n(shown once; only its hash is stored)\n", id, sec)
	}
	return nil
}

// remoteAPIKey runs an apikey command over the admin API (keys of users).
func (m *Main) remoteAPIKey(ctx context.Context, r remoteFlags, verb string, pos []string, user, clientID, scope, name string, exp time.Duration, asJSON bool) error {
	if clientID != "" {
		return errors.New("--server manages the API keys of users only (--user NAME)")
	}
	adm, err := m.adminClient(ctx, r)
	if err != nil {
		return err
	}
	switch verb {
	case "create":
		key, rec, err := adm.CreateAPIKey(ctx, user, admin.NewAPIKey{Name: name, Scopes: strings.Fields(scope), ExpiresIn: exp})
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "api key %s created\n%s\n(shown once; only its hash is stored)\n", rec.ID, key)
	case "list":
		if user == "" {
			return errors.New("with --server, apikey list needs --user NAME")
		}
		all, err := allPages(func(opt admin.ListOptions) (*admin.Page[admin.APIKey], error) { return adm.ListAPIKeys(ctx, user, opt) })
		if err != nil {
			return err
		}
		if asJSON {
			return m.printJSON(all)
		}
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tOWNER\tKEY\tSCOPES\tCREATED\tLAST USED\tEXPIRES\tREVOKED")
		for _, k := range all {
			fmt.Fprintf(tw, "%s\t%s\tuser:%s\t%s…%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Username, k.Prefix, k.Last4, strings.Join(k.Scopes, " "),
				fmtTime(k.CreatedAt), fmtTime(optT(k.LastUsedAt)), fmtTime(optT(k.ExpiresAt)), fmtTime(optT(k.RevokedAt)))
		}
		return tw.Flush()
	case "revoke":
		id, err := m.oneArg("apikey revoke", pos, "ID")
		if err != nil {
			return err
		}
		if err := adm.RevokeAPIKey(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "api key %s revoked\n", id)
	}
	return nil
}

// remoteKeys runs keys list|rotate over the admin API.
func (m *Main) remoteKeys(ctx context.Context, r remoteFlags, verb string, asJSON bool) error {
	adm, err := m.adminClient(ctx, r)
	if err != nil {
		return err
	}
	if verb == "rotate" {
		k, err := adm.RotateKeys(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "new active signing key %s (%s); previous key stays published until its tokens expire\n", k.KID, k.Algorithm)
		return nil
	}
	keys, err := adm.ListKeys(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return m.printJSON(keys)
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tACTIVE\tCREATED\tRETIRED\tEXPIRES\tPURPOSE")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\t%s\n", k.KID, k.Algorithm, k.Active, fmtTime(k.CreatedAt), fmtTime(optT(k.RetiredAt)), fmtTime(optT(k.ExpiresAt)), keyPurpose(k.Purpose))
	}
	return tw.Flush()
}

// keyPurpose names what a signing key signs, for key listings.
func keyPurpose(p string) string {
	if p == "" {
		return "tokens"
	}
	return p // id_token: OpenID Connect ID tokens only
}

// remoteRevokeUser ends every session of a user over the admin API.
func (m *Main) remoteRevokeUser(ctx context.Context, r remoteFlags, user string) error {
	adm, err := m.adminClient(ctx, r)
	if err != nil {
		return err
	}
	n, err := adm.RevokeSessions(ctx, user)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "revoked %d session(s) of %s; its access tokens are inactive\n", n, user)
	return nil
}

// allPages reads every page of a list. A cursor that does not move on
// (a broken or hostile server) is an error, not an endless loop.
func allPages[T any](list func(admin.ListOptions) (*admin.Page[T], error)) ([]T, error) {
	var all []T
	opt := admin.ListOptions{Limit: 500}
	seen := map[string]bool{}
	for {
		p, err := list(opt)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if p.NextCursor == nil {
			return all, nil
		}
		if seen[*p.NextCursor] {
			return nil, fmt.Errorf("the server answered the list cursor %q twice", *p.NextCursor)
		}
		seen[*p.NextCursor] = true
		opt.Cursor = *p.NextCursor
	}
}

// importChunk bounds the export text of one remote import request, under
// the server's 64 KiB body limit with room for JSON escaping.
const importChunk = 24 << 10

// remoteImportClients sends a client export to the admin API in parts
// (remoteImport) and prints the report as the local import does.
func (m *Main) remoteImportClients(ctx context.Context, r remoteFlags, file string, o iadmin.ImportOptions) error {
	adm, err := m.adminClient(ctx, r)
	if err != nil {
		return err
	}
	rep, err := remoteImport(file, o, func(format, data string) (*admin.ImportReport, error) {
		return adm.ImportClients(ctx, admin.ClientImport{Format: format, Data: data, AllowWeakHashes: o.AllowWeak})
	})
	return m.printImport("client", file, rep, err)
}

// remoteImportUsers sends a user export to the admin API in parts
// (remoteImport) and prints the report as the local import does.
func (m *Main) remoteImportUsers(ctx context.Context, r remoteFlags, file string, o iadmin.ImportOptions) error {
	adm, err := m.adminClient(ctx, r)
	if err != nil {
		return err
	}
	rep, err := remoteImport(file, o, func(format, data string) (*admin.ImportReport, error) {
		return adm.ImportUsers(ctx, admin.UserImport{Format: format, Data: data, AllowWeakHashes: o.AllowWeak})
	})
	return m.printImport("user", file, rep, err)
}

// remoteImport reads an export and sends it with send in parts of whole
// records of at most importChunk bytes (CSV parts repeat the header),
// adding up the reports with the file's own line numbers. On an error it
// returns the report of the parts sent before it.
func remoteImport(file string, o iadmin.ImportOptions, send func(format, data string) (*admin.ImportReport, error)) (iadmin.ImportReport, error) {
	var total iadmin.ImportReport
	b, err := os.ReadFile(file)
	if err != nil {
		return total, err
	}
	format := string(o.Format)
	if format == "" {
		format = "csv"
		if t := bytes.TrimLeft(b, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
			format = "jsonl"
		}
	}
	lines := strings.SplitAfter(string(b), "\n")
	header, first := "", 0
	if format == "csv" && len(lines) > 0 {
		header, first = lines[0], 1
	}
	sendPart := func(part []string, start int) error {
		if len(part) == 0 {
			return nil
		}
		rep, err := send(format, header+strings.Join(part, ""))
		if err != nil {
			return err
		}
		total.Created += rep.Created
		total.Unchanged += rep.Unchanged
		for _, f := range rep.Refused {
			line := start + f.Line - 1 // the part's line 1 is the file's line start
			if header != "" {
				line = start + f.Line - 2 // the part's line 1 is the header
			}
			total.Refused = append(total.Refused, iadmin.Refusal{Line: line, ClientID: f.ClientID, Username: f.Username, Reason: f.Reason})
		}
		return nil
	}
	var part []string
	size, start, inQuote := 0, first+1, false
	for i := first; i < len(lines); i++ {
		l := lines[i]
		if !inQuote && size > 0 && size+len(l) > importChunk {
			if err := sendPart(part, start); err != nil {
				return total, err
			}
			part, size, start = part[:0], 0, i+1
		}
		part = append(part, l)
		size += len(l)
		if format == "csv" && strings.Count(l, `"`)%2 == 1 {
			inQuote = !inQuote // a quoted field goes on over the line break
		}
	}
	return total, sendPart(part, start)
}
