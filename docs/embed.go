// Package docs embeds the documents the server serves.
package docs

import _ "embed"

//go:embed admin-openapi.yaml
var adminOpenAPI []byte

// AdminOpenAPI returns docs/admin-openapi.yaml, the OpenAPI 3.1 document
// of the admin API.
func AdminOpenAPI() []byte { return append([]byte(nil), adminOpenAPI...) }
