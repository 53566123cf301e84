// The test below proves that the public libraries can be used from
// another module: it builds a program outside this module that requires
// this one (through a replace to this checkout, as a go get of a
// published version would resolve it) and imports client and bearer.

package modtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const program = `package main

import (
	"context"
	"fmt"
	"net/http"

	"MODULE/bearer"
	"MODULE/client"
)

func main() {
	ctx := context.Background()
	v, err := bearer.NewVerifier(ctx, bearer.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com"})
	if err == nil {
		http.Handle("/orders", v.Require("read")(http.NotFoundHandler()))
	}
	c, err := client.New(ctx, client.Config{BaseURL: "https://auth.example.com", ClientID: "web", ClientSecret: "s"})
	if err == nil {
		_ = c.HTTPClient()
	}
	fmt.Println(err)
}
`

func TestLibrariesBuildFromAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var mod string
	for _, line := range strings.Split(string(gomod), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			mod = strings.Trim(strings.TrimSpace(rest), `"`)
			break
		}
	}
	if first, _, _ := strings.Cut(mod, "/"); !strings.Contains(first, ".") {
		t.Fatalf("module path %q has no domain: `go get` cannot fetch it", mod)
	}
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("main.go", strings.ReplaceAll(program, "MODULE", mod))
	write("go.mod", "module example.com/outside\n\ngo 1.26\n\nrequire "+mod+" v0.0.0\n\nreplace "+mod+" => "+root+"\n")
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write("go.sum", string(sum))
	// The module cache this module's own build filled has everything
	// (the proxy is asked only for what it lacks); -mod=mod lets go add
	// the requirements it finds.
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", filepath.Join(dir, "outside"), "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v in an outside module: %v\n%s", args, err, out)
		}
	}
}
