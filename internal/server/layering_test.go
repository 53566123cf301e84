package server_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestConfigStaysAtTheEdge checks that no package below the server imports
// internal/config: the server translates the configuration into their own
// option structs (options.go). The server itself, servertest (which starts
// servers) and config are exempt; test files may use the config.
func TestConfigStaysAtTheEdge(t *testing.T) {
	const cfgPath = "github.com/tokengate/tokengate/internal/config"
	exempt := map[string]bool{"config": true, "server": true, "servertest": true}
	root := ".."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel, _ := filepath.Rel(root, path); exempt[strings.Split(filepath.ToSlash(rel), "/")[0]] || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == cfgPath {
				t.Errorf("%s imports internal/config; translate the config in internal/server instead", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestContractsSeeNoStoreRecords checks that the HTTP edge (internal/contract)
// does not import the store: it gets a client handle from the core
// (oauth.Client), never the stored record, and maps core errors to HTTP
// itself (contract.HTTPStatus).
func TestContractsSeeNoStoreRecords(t *testing.T) {
	const storePath = "github.com/tokengate/tokengate/internal/store"
	files, err := filepath.Glob("../contract/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no contract sources: %v", err)
	}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == storePath || strings.HasPrefix(p, storePath+"/") {
				t.Errorf("%s imports %s; the edge works with oauth.Client handles", path, p)
			}
		}
	}
}
