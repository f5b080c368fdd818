package admin

import (
	_ "embed"
	"net/http"
)

// openAPI is the admin API's OpenAPI 3.1 document, written by hand; a test
// holds it to the routes (every routed path and method documented, every
// documented one routed).
//
//go:embed openapi.json
var openAPI []byte

// OpenAPIDocument returns the document (for tests and tools).
func OpenAPIDocument() []byte { return openAPI }

// HandleOpenAPI serves the document. It is public: it describes the API and
// holds nothing secret.
func (a *Server) HandleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}
