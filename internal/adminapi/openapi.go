package adminapi

import (
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"
)

// OpenAPIJSON converts the YAML OpenAPI document to the JSON served at
// /admin/v1/openapi.json.
func OpenAPIJSON(doc []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("adminapi: parsing the OpenAPI document: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("adminapi: converting the OpenAPI document: %w", err)
	}
	return b, nil
}
