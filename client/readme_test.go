package client_test

import (
	"testing"

	"github.com/tokengate/tokengate/internal/readmetest"
)

// TestREADMECodeMirrorsExamples: every Go block of README.md names the
// Example of example_test.go it mirrors, and its main is that Example's
// body, so that the README's code compiles and stays current.
func TestREADMECodeMirrorsExamples(t *testing.T) {
	readmetest.CheckMirrors(t, "README.md", "example_test.go")
}
