package web

import "context"

// WithInfo returns ctx carrying ri, as WithRequestInfo sets it for a request: for
// work done on a request's behalf outside its handler chain, and for tests of
// code that reads InfoFrom.
func WithInfo(ctx context.Context, ri RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey, ri)
}
