package delegate

import (
	"context"
	"errors"

	"github.com/gatehouse/gatehouse/broker/store"
)

// Lineage is whose access a delegation carries and who passed it on. A
// re-delegation (ParentID) passes on what its grantor received, so the access
// is always the first grantor's: tokens under it have that person as sub, and
// every delegate in between acts (act, RFC 8693 §4.1, prior actors nested). A
// token naming the re-delegating grantor as sub instead would give the
// delegate access to that grantor's own resources, which nobody delegated
// (AS-DEL-04).
type Lineage struct {
	// Root is the first grantor: whose access it is.
	Root string
	// Ancestors are the delegations d was passed on from, parent first.
	Ancestors []store.Delegation
}

// ErrBrokenLineage: a delegation's parent is gone, or its chain of parents is
// longer than maxDepth.
var ErrBrokenLineage = &Unusable{Reason: "the access it was passed on from is gone or too far removed"}

// Lineage walks d's parents, at most maxDepth of them.
func (s *Service) Lineage(ctx context.Context, d store.Delegation, maxDepth int) (Lineage, error) {
	var l Lineage
	for d.ParentID != "" {
		if len(l.Ancestors) >= maxDepth {
			return Lineage{}, ErrBrokenLineage
		}
		p, err := s.Store.Delegations().Get(ctx, d.ParentID)
		if errors.Is(err, store.ErrNotFound) {
			return Lineage{}, ErrBrokenLineage
		}
		if err != nil {
			return Lineage{}, err
		}
		l.Ancestors = append(l.Ancestors, p)
		d = p
	}
	l.Root = d.GrantorID
	return l, nil
}

// Actors are the subjects of the act chain of a token that holder (the
// delegate of the delegation the lineage is of) gets under it, outermost
// first: holder, then each delegate who passed the access on, ending with
// the one the first grantor gave it to.
func (l Lineage) Actors(holder string) []string {
	subs := []string{holder}
	for _, a := range l.Ancestors {
		subs = append(subs, a.GranteeUserID)
	}
	return subs
}
