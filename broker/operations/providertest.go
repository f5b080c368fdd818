package operations

import "context"

// ProviderTested records an admin's test sign-in through provider providerID
// (issue 12): who ran it and how (a: the console or the admin API), and the
// outcome, "succeeded" or "refused" with the refusal's reason. Sign-in calls it
// when the test flow ends, with the actor the console or the API sealed into
// the flow. Nothing the IdP returned goes into the event: its claims are
// personal data the test shows once and keeps nowhere (ADM-16 asks who and
// what, not the data).
func (s *Service) ProviderTested(ctx context.Context, a Actor, providerID, refused string) error {
	details := map[string]any{"result": "succeeded"}
	if refused != "" {
		details = map[string]any{"result": "refused", "reason": refused}
	}
	return s.record(ctx, s.Store, a, "provider.tested", providerID, details)
}
