package config_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/contract"
	"github.com/tokengate/tokengate/internal/server"
)

// fuzzFile is the name the fuzzed config is "read from".
const fuzzFile = "conf.d/tokengate.yaml"

// FuzzParse loads fuzzed YAML as the server does at start: Parse, then
// Validate, then the routes built against the endpoint kinds. None of it
// may panic; every error names the file (and, when it has a line, one
// that exists); a config that loads holds no negative duration.
//
// Besides testdata/fuzz/FuzzParse, the five example configs are seeds.
func FuzzParse(f *testing.F) {
	examples, err := filepath.Glob(filepath.Join("..", "..", "examples", "*", "tokengate.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range examples {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(fuzzFile, data)
		if err != nil {
			checkConfigError(t, "Parse", err, data)
			return
		}
		if cfg.File != fuzzFile {
			t.Fatalf("File = %q", cfg.File)
		}
		checkDurations(t, reflect.ValueOf(cfg), "config")
		if err := cfg.Validate(); err != nil {
			checkConfigError(t, "Validate", err, data)
			return
		}
		if _, err := server.BuildRoutes(&cfg, &contract.Env{}); err != nil {
			checkConfigError(t, "server.BuildRoutes", err, data)
		}
	})
}

// checkConfigError checks an error names the file first and any line it
// gives is in the file.
func checkConfigError(t *testing.T, stage string, err error, data []byte) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, fuzzFile+":") {
		t.Fatalf("%s error does not name the file: %q", stage, msg)
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		if ce.File != fuzzFile {
			t.Fatalf("%s error names %q", stage, ce.File)
		}
		if lines := yamlLines(data); ce.Line < 0 || ce.Line > lines {
			t.Fatalf("%s error at line %d of a %d-line file: %q", stage, ce.Line, lines, msg)
		}
		if ce.Msg == "" {
			t.Fatalf("%s error without a message: %q", stage, msg)
		}
	}
}

// yamlLines counts lines as the YAML parser does: CR, LF and CRLF end a
// line, and so do NEL, LS and PS.
func yamlLines(data []byte) int {
	n := 1
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\n':
			n++
		case data[i] == '\r':
			if i+1 >= len(data) || data[i+1] != '\n' {
				n++
			}
		case bytes.HasPrefix(data[i:], []byte("\u0085")), bytes.HasPrefix(data[i:], []byte("\u2028")), bytes.HasPrefix(data[i:], []byte("\u2029")):
			n++
		}
	}
	return n
}

var durationType = reflect.TypeFor[config.Duration]()

// checkDurations fails on any negative config.Duration reachable from v:
// ParseDuration promises none, and nothing downstream expects one.
func checkDurations(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	if v.Type() == durationType {
		if v.Int() < 0 {
			t.Fatalf("%s is a negative duration: %d", path, v.Int())
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			checkDurations(t, v.Elem(), path)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				checkDurations(t, v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			checkDurations(t, v.Index(i), path+"[]")
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			checkDurations(t, it.Value(), path+"{}")
		}
	}
}
