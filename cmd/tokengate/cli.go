package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/postgres"
	"github.com/tokengate/tokengate/internal/store/sqlite"
)

// Main is the program: its streams and environment are fields so tests
// can run commands in-process.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// errUsage marks a mistake in the command line; the message was printed.
var errUsage = errors.New("usage")

// Run runs one command and returns the exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = m.serve(ctx, args[1:])
	case "migrate":
		err = m.migrate(ctx, args[1:])
	case "user":
		err = m.user(ctx, args[1:])
	case "client":
		err = m.client(ctx, args[1:])
	case "apikey":
		err = m.apikey(ctx, args[1:])
	case "keys":
		err = m.keysCmd(ctx, args[1:])
	case "token":
		err = m.tokenCmd(ctx, args[1:])
	case "backup":
		err = m.backup(ctx, args[1:])
	case "healthcheck":
		err = m.healthcheck(ctx, args[1:])
	case "version", "--version", "-version":
		err = m.version(args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(m.Stdout, usage)
		return 0
	default:
		fmt.Fprintf(m.Stderr, "tokengate: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		// --help asked for the usage, which was printed: not a mistake.
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(m.Stderr, "tokengate %s: %v\n", args[0], err)
		return 1
	}
}

const usage = `usage: tokengate COMMAND [flags]

commands:
  serve     run the server (--config FILE --addr HOST:PORT --db DSN --dev)
  migrate   apply schema migrations and exit
  user      add|list|passwd|disable|enable|delete users; user import FILE: move users with their
            existing password hashes (bcrypt, Django, Spring, passlib, Werkzeug, PHP argon2; docs/migrate/)
  client    add|list|delete OAuth clients; client import FILE: move clients with their existing secrets
            (plaintext, bcrypt as Passport stores them, Django hashes as DOT 2.x does; docs/migrate/)
  apikey    create|list|revoke API keys
  keys      list|rotate|revoke KID signing keys
  token     print a valid access token (--url, credentials from TOKENGATE_* env), cached and refreshed;
            token --device: a person approves a printed code in the browser (RFC 8628); token logout: forget it; token revoke --user NAME: revoke every refresh token of a user
  backup    write a consistent copy of the SQLite store to a new file while the server runs
  healthcheck  exit 0 when the server's /readyz answers 200 (for container health checks)
  version   print the version, commit and Go version (also --version)

Every command takes --config FILE and --db DSN (or TOKENGATE_CONFIG, TOKENGATE_DB).
`

// common are the flags every command shares.
type common struct {
	config string
	db     string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "YAML config file (env TOKENGATE_CONFIG)")
	fs.StringVar(&c.db, "db", "", "database: a file path, sqlite:PATH or postgres://... (env TOKENGATE_DB)")
}

// newFlags makes a FlagSet that reports to m.Stderr.
func (m *Main) newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	return fs
}

// parse parses flags that may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, flag.ErrHelp
			}
			if strings.HasPrefix(err.Error(), "flag provided but not defined") {
				fmt.Fprintf(fs.Output(), "(an argument that begins with '-' goes after --: tokengate %s [flags] -- ARG)\n", fs.Name())
			}
			return nil, errUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// loadConfig reads the config (flag, then env), overlays env and flags,
// and validates it.
func (m *Main) loadConfig(c common, override func(*config.Config)) (config.Config, error) {
	cfg, err := config.LoadFromEnv(c.config, m.Getenv)
	if err != nil {
		return cfg, err
	}
	if c.db != "" {
		cfg.DB = c.db
	}
	if override != nil {
		override(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// openStore opens the store a DSN names and applies migrations.
func openStore(ctx context.Context, dsn string, log *slog.Logger) (store.Store, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		// Pool size and timeouts come from the DSN's query parameters
		// (see internal/store/postgres).
		db, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", redactDSN(dsn), err)
		}
		return db, nil
	case strings.Contains(dsn, "://"):
		return nil, fmt.Errorf("unsupported database URL scheme in %q: use a file path, sqlite:PATH or postgres://", redactDSN(dsn))
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	if path == "" {
		return nil, errors.New("empty database path")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the directory of database %s: %w", path, err)
		}
	}
	st, err := sqlite.OpenWithOptions(ctx, path, sqlite.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	return st, nil
}

// redactDSN hides the passwords in a database URL (in the user info, or
// password= and sslpassword= query parameters) before it is printed.
func redactDSN(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	rest, query, hasQuery := strings.Cut(rest, "?")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		creds := rest[:at]
		if user, _, hasPw := strings.Cut(creds, ":"); hasPw {
			rest = user + ":xxxxx@" + rest[at+1:]
		}
	}
	if !hasQuery {
		return scheme + "://" + rest
	}
	params := strings.Split(query, "&")
	for i, kv := range params {
		if k, _, _ := strings.Cut(kv, "="); k == "password" || k == "sslpassword" {
			params[i] = k + "=xxxxx"
		}
	}
	return scheme + "://" + rest + "?" + strings.Join(params, "&")
}

// withStore loads the config, opens the store and runs fn.
func (m *Main) withStore(ctx context.Context, c common, fn func(cfg config.Config, st store.Store) error) error {
	return m.withRecord(ctx, c, record{}, fn)
}

// record names the record a command addresses, e.g. {"user", "bob"}.
type record struct{ kind, id string }

// withRecord is withStore for a command about one record: a missing or
// already existing record is reported with its name and the database
// (`user "bob" not found in t.db`), not with the driver's words.
func (m *Main) withRecord(ctx context.Context, c common, rec record, fn func(cfg config.Config, st store.Store) error) error {
	cfg, err := m.loadConfig(c, nil)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg.DB, newLogger(m.Stderr, "text", "warn"))
	if err != nil {
		return err
	}
	defer st.Close()
	err = fn(cfg, st)
	if rec.kind != "" {
		switch {
		case errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("%s %q not found in %s", rec.kind, rec.id, dbName(cfg.DB))
		case errors.Is(err, store.ErrConflict):
			return fmt.Errorf("%s %q already exists in %s", rec.kind, rec.id, dbName(cfg.DB))
		}
	}
	return err
}

// dbName is how messages name a database: the SQLite file's path, or the
// PostgreSQL URL without its passwords.
func dbName(dsn string) string {
	if strings.Contains(dsn, "://") {
		return redactDSN(dsn)
	}
	return strings.TrimPrefix(dsn, "sqlite:")
}

func (m *Main) migrate(ctx context.Context, args []string) error {
	fs := m.newCmd("migrate", "")
	var c common
	c.register(fs.FlagSet)
	if _, err := fs.parse(args); err != nil {
		return err
	}
	return m.withStore(ctx, c, func(cfg config.Config, st store.Store) error {
		fmt.Fprintln(m.Stdout, "migrations applied")
		return nil
	})
}

// newLogger makes the process logger.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// readSecret reads a password or secret: from stdin when it is not a
// terminal (one line), else by prompting without echo. Never from argv.
func (m *Main) readSecret(prompt string, confirm bool) (string, error) {
	if f, ok := m.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(m.Stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(m.Stderr)
		if err != nil {
			return "", fmt.Errorf("reading from terminal: %w", err)
		}
		if confirm {
			fmt.Fprint(m.Stderr, "again: ")
			b2, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(m.Stderr)
			if err != nil {
				return "", fmt.Errorf("reading from terminal: %w", err)
			}
			if string(b) != string(b2) {
				return "", errors.New("the two entries differ")
			}
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(io.LimitReader(m.Stdin, 4097)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if len(line) > 4096 {
		return "", errors.New("secret longer than 4096 bytes")
	}
	if line == "" {
		return "", errors.New("empty secret on stdin")
	}
	return line, nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// cmdFlags is the FlagSet of one command or NOUN VERB: it registers only
// the flags that command takes, so a flag of another verb is an error, and
// its --help shows the positional arguments and those flags alone.
type cmdFlags struct {
	*flag.FlagSet
	verb string
	args []string // names of the positional arguments, all required
}

// newCmd makes the FlagSet of command name (e.g. "user add"), whose verb
// is verb ("" for a command without verbs) and whose positional
// arguments are args.
func (m *Main) newCmd(name, verb string, args ...string) *cmdFlags {
	f := &cmdFlags{FlagSet: m.newFlags(name), verb: verb, args: args}
	f.Usage = func() {
		line := "tokengate " + name
		for _, a := range args {
			line += " " + a
		}
		fmt.Fprintf(f.Output(), "usage: %s [flags]\n\nflags:\n", line)
		f.PrintDefaults()
	}
	return f
}

// takes reports whether the verb is one of verbs ("add|passwd").
func (f *cmdFlags) takes(verbs string) bool {
	for _, v := range strings.Split(verbs, "|") {
		if v == f.verb {
			return true
		}
	}
	return false
}

// str defines a string flag when the verb is one of verbs; otherwise the
// flag is unknown and the pointer keeps def.
func (f *cmdFlags) str(verbs, name, def, usage string) *string {
	p := &def
	if f.takes(verbs) {
		f.StringVar(p, name, def, usage)
	}
	return p
}

// boolean is str for a bool flag.
func (f *cmdFlags) boolean(verbs, name string, usage string) *bool {
	p := new(bool)
	if f.takes(verbs) {
		f.BoolVar(p, name, false, usage)
	}
	return p
}

// integer is str for an int flag.
func (f *cmdFlags) integer(verbs, name string, def int, usage string) *int {
	p := &def
	if f.takes(verbs) {
		f.IntVar(p, name, def, usage)
	}
	return p
}

// parse parses the flags (before or after the arguments) and checks that
// exactly the positional arguments of the command were given.
func (f *cmdFlags) parse(args []string) ([]string, error) {
	pos, err := parse(f.FlagSet, args)
	if err != nil {
		return nil, err
	}
	switch {
	case len(pos) > len(f.args):
		fmt.Fprintf(f.Output(), "tokengate %s: unexpected argument %q\n", f.Name(), pos[len(f.args)])
	case len(pos) < len(f.args):
		fmt.Fprintf(f.Output(), "tokengate %s: missing argument %s\n", f.Name(), f.args[len(pos)])
	default:
		for i, p := range pos {
			if p == "" {
				fmt.Fprintf(f.Output(), "tokengate %s: empty argument %s\n", f.Name(), f.args[i])
				return nil, errUsage
			}
		}
		return pos, nil
	}
	f.Usage()
	return nil, errUsage
}
