package broker

import (
	"context"
	"net/http"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
)

// What the wiring's external tests (package broker_test, which build their
// server with internal/testsupport/brokertest) need of its internals: extra
// routes for mechanisms no production route exercises yet, the maintenance
// sweep, and the store it runs against.

func (s *Server) Page(pattern string, h web.HandlerFunc) { s.page(pattern, h) }

func (s *Server) Form(pattern string, h web.HandlerFunc) { s.form(pattern, h) }

func (s *Server) Endpoint(pattern string, h http.Handler) { s.endpoint(pattern, h) }

// Forms are the form route patterns, each to be held to POST-only.
func (s *Server) Forms() []string { return s.forms }

func (s *Server) MaintainOnce(ctx context.Context) { s.maintainOnce(ctx) }

func (s *Server) Store() store.Store { return s.store }

// SetStore swaps the store the server runs against (fault injection).
func (s *Server) SetStore(st store.Store) { s.store = st }
