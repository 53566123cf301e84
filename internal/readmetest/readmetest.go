// Package readmetest checks that the Go code shown in a package's README
// is the code of a compiled Example, for the tests of the public packages.
package readmetest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"
)

var (
	goBlock    = regexp.MustCompile("(?s)```go\n(.*?)```")
	mirrorLine = regexp.MustCompile(`// Mirrors (Example\w*) in example_test\.go`)
)

// CheckMirrors fails t unless every Go block of the README file names
// the Example of the examples file it mirrors ("// Mirrors ExampleX in
// example_test.go") and its main is that Example's body, so that the
// README's code compiles (as the Example does) and stays current.
func CheckMirrors(t testing.TB, readme, examples string) {
	t.Helper()
	md, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(examples)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, examples, src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]string{}
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Body != nil {
			bodies[fn.Name.Name] = string(src[fset.Position(fn.Body.Lbrace).Offset+1 : fset.Position(fn.Body.Rbrace).Offset])
		}
	}
	blocks := goBlock.FindAllStringSubmatch(string(md), -1)
	if len(blocks) == 0 {
		t.Fatalf("%s has no Go block", readme)
	}
	for _, b := range blocks {
		code := b[1]
		m := mirrorLine.FindStringSubmatch(code)
		if m == nil {
			t.Errorf("a Go block of %s names no Example it mirrors:\n%s", readme, code)
			continue
		}
		body, ok := bodies[m[1]]
		if !ok {
			t.Errorf("%s mirrors %s, which %s does not have", readme, m[1], examples)
			continue
		}
		start := strings.Index(code, "func main() {\n")
		end := strings.LastIndex(code, "\n}")
		if start < 0 || end < start {
			t.Errorf("the block mirroring %s is not a program with a main", m[1])
			continue
		}
		if got, want := lines(code[start+len("func main() {\n"):end]), lines(body); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("README's main differs from %s:\nREADME:\n%s\n\nExample:\n%s", m[1], strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// lines returns the non-empty lines of s with their spaces collapsed
// (gofmt aligns a block's fields differently from a function's).
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	return out
}
