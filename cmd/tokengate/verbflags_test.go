package main

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// runInProcess runs one command line on a Main with an empty environment.
func runInProcess(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code = m.Run(context.Background(), args)
	return out.String(), errb.String(), code
}

// TestEveryVerbTakesOnlyItsFlagsAndArguments: for every command and verb,
// --help lists exactly its own flags and its positional arguments; a flag
// of any other verb is refused with exit 2 and a message naming it; an
// extra positional argument is refused with exit 2. All of this happens
// before any database is opened or server contacted.
func TestEveryVerbTakesOnlyItsFlagsAndArguments(t *testing.T) {
	local := []string{"config", "db"}
	remote := []string{"config", "db", "server", "admin-client"}
	with := func(base []string, more ...string) []string { return append(slices.Clone(base), more...) }
	cases := []struct {
		cmd   []string
		pos   []string
		flags []string
	}{
		{[]string{"user", "add"}, []string{"NAME"}, with(remote, "scopes")},
		{[]string{"user", "list"}, nil, with(remote, "json")},
		{[]string{"user", "passwd"}, []string{"NAME"}, with(remote, "keep-sessions")},
		{[]string{"user", "disable"}, []string{"NAME"}, remote},
		{[]string{"user", "enable"}, []string{"NAME"}, remote},
		{[]string{"user", "delete"}, []string{"NAME"}, remote},
		{[]string{"user", "import"}, []string{"FILE"}, with(remote, "format", "allow-weak-hashes", "batch")},
		{[]string{"client", "add"}, []string{"ID"}, with(remote, "grants", "scopes", "public", "secret-stdin", "no-introspect", "resources", "redirect-uris", "third-party", "origins")},
		{[]string{"client", "list"}, nil, with(remote, "json")},
		{[]string{"client", "get"}, []string{"ID"}, with(remote, "json")},
		{[]string{"client", "delete"}, []string{"ID"}, remote},
		{[]string{"client", "rotate-secret"}, []string{"ID"}, remote},
		{[]string{"apikey", "create"}, nil, with(remote, "user", "client", "scope", "expires", "name")},
		{[]string{"apikey", "list"}, nil, with(remote, "user", "json")},
		{[]string{"apikey", "revoke"}, []string{"ID"}, remote},
		{[]string{"keys", "list"}, nil, with(remote, "json")},
		{[]string{"keys", "rotate"}, nil, remote},
		{[]string{"keys", "revoke"}, []string{"KID"}, local},
		{[]string{"token", "revoke"}, nil, with(remote, "user")},
		{[]string{"token", "print"}, nil, []string{"url", "contract", "client-id", "username", "scope", "cache", "device"}},
		{[]string{"token", "logout"}, nil, []string{"url", "contract", "client-id", "username", "scope", "cache", "device"}},
		{[]string{"migrate"}, nil, local},
		{[]string{"serve"}, nil, with(local, "addr", "dev", "log-format", "log-level", "tls-cert", "tls-key")},
	}
	var all []string
	for _, c := range cases {
		for _, f := range c.flags {
			if !slices.Contains(all, f) {
				all = append(all, f)
			}
		}
	}
	flagLine := regexp.MustCompile(`(?m)^  -([a-z-]+)`)
	for _, c := range cases {
		name := strings.Join(c.cmd, " ")
		out, errOut, code := runInProcess(with(c.cmd, "--help")...)
		if code != 0 {
			t.Errorf("%s --help: exit %d", name, code)
		}
		help := out + errOut
		shown := name
		if name == "token print" { // print is the default verb
			shown = "token"
		}
		wantLine := "usage: tokengate " + strings.TrimSpace(shown+" "+strings.Join(c.pos, " ")) + " [flags]"
		if !strings.Contains(help, wantLine) {
			t.Errorf("%s --help lacks %q:\n%s", name, wantLine, help)
		}
		var listed []string
		for _, m := range flagLine.FindAllStringSubmatch(help, -1) {
			listed = append(listed, m[1])
		}
		if want := slices.Sorted(slices.Values(c.flags)); !slices.Equal(slices.Sorted(slices.Values(listed)), want) {
			t.Errorf("%s --help lists flags %v, want %v", name, listed, want)
		}

		// Real-looking positional arguments, so only the flag is wrong.
		var pos []string
		for range c.pos {
			pos = append(pos, "x")
		}
		for _, f := range all {
			if slices.Contains(c.flags, f) {
				continue
			}
			_, errOut, code := runInProcess(with(with(c.cmd, pos...), "--"+f, "v")...)
			if code != 2 || !strings.Contains(errOut, "-"+f) {
				t.Errorf("%s --%s (a flag of another verb): exit %d, stderr %q", name, f, code, errOut)
			}
		}

		_, errOut, code = runInProcess(with(with(c.cmd, pos...), "surplus")...)
		if code != 2 || !strings.Contains(errOut, `unexpected argument "surplus"`) {
			t.Errorf("%s with an extra argument: exit %d, stderr %q", name, code, errOut)
		}
	}
}

// TestMissingArgumentNamesIt: a verb without its positional argument says
// which one is missing and exits 2.
func TestMissingArgumentNamesIt(t *testing.T) {
	for _, args := range [][]string{{"user", "disable"}, {"client", "get"}, {"keys", "revoke"}, {"user", "import"}} {
		_, errOut, code := runInProcess(args...)
		if code != 2 || !strings.Contains(errOut, "missing argument") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// TestArgumentsThatLookLikeFlags: a key id made before ids avoided a
// leading '-' still has to be revocable. `--` ends the flags, and the error
// for an unknown flag says so.
func TestArgumentsThatLookLikeFlags(t *testing.T) {
	db := "sqlite:" + t.TempDir() + "/t.db"
	_, stderr, code := runInProcess("keys", "revoke", "-EHSDrsdb8vyV_W7QJmLlw", "--db", db)
	if code != 2 || !strings.Contains(stderr, "after --") {
		t.Fatalf("keys revoke -KID: exit %d, stderr %q: want exit 2 and a hint about --", code, stderr)
	}
	_, stderr, code = runInProcess("keys", "revoke", "--db", db, "--", "-EHSDrsdb8vyV_W7QJmLlw")
	if code == 0 || code == 2 || !strings.Contains(stderr, "-EHSDrsdb8vyV_W7QJmLlw") || !strings.Contains(stderr, "not found") {
		t.Fatalf("keys revoke -- -KID: exit %d, stderr %q: want the kid looked up and not found", code, stderr)
	}
}
