package rs

import (
	"errors"
	"net/http"
	"slices"

	"github.com/gatehouse/gatehouse/broker/dpop"
)

func dpopDefaultAlgs() []string { return slices.Clone(dpop.SupportedAlgs) }

// checkDPoP verifies the DPoP proof of a request presenting a DPoP-bound token
// (RFC 9449 §7.1): a valid proof (§4.3) for this method and URL, over this
// token (ath), signed by the key the token is bound to (cnf.jkt, §6.1), fresh
// and never seen before (§11.1).
func (v *Verifier) checkDPoP(r *http.Request, tok *Token) error {
	refuse := func(desc string) error {
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_dpop_proof", Scheme: "DPoP", Description: desc}
	}
	header, present, err := dpop.FromHeader(r.Header)
	if err != nil || !present {
		return refuse("exactly one DPoP proof header is required")
	}
	now := v.cfg.Now()
	p, err := dpop.Parse(header, dpop.Check{Method: r.Method, URL: v.cfg.RequestURL(r), AccessToken: tok.Raw,
		Now: now, Window: v.cfg.DPoPWindow, Algs: v.cfg.DPoPAlgorithms})
	if err != nil {
		// ProofError.Reason names the failed check and never the proof itself.
		var pe *dpop.ProofError
		if errors.As(err, &pe) {
			return refuse("the DPoP proof is invalid: " + pe.Reason)
		}
		return refuse("the DPoP proof is invalid")
	}
	if p.JKT != tok.Confirmation.JKT {
		return refuse("the DPoP proof is not signed by the key the token is bound to")
	}
	// Keep the jti as long as a proof with its iat is accepted (iat within the
	// window either side of now).
	until := p.IssuedAt.Add(v.cfg.DPoPWindow)
	if now.After(p.IssuedAt) {
		until = now.Add(v.cfg.DPoPWindow)
	}
	seen, err := v.cfg.Replay.Seen(r.Context(), p.JKT+" "+p.ID, until)
	if err != nil {
		return err
	}
	if seen {
		return refuse("the DPoP proof was already used")
	}
	return nil
}
