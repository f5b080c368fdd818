// Package storetest is the contract suite every store.Store backend passes: Run it
// from the backend's tests with a function that opens a fresh, migrated store.
package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// Run runs every contract test. open is called once per subtest and must return an
// empty store, closed by the test's cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Ping", func(t *testing.T) {
		if err := open(t).Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
	t.Run("Users", func(t *testing.T) { testUsers(t, open) })
	t.Run("Identities", func(t *testing.T) { testIdentities(t, open) })
	t.Run("Providers", func(t *testing.T) { testProviders(t, open) })
	t.Run("Clients", func(t *testing.T) { testClients(t, open) })
	t.Run("APIs", func(t *testing.T) { testAPIs(t, open) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open) })
	t.Run("Codes", func(t *testing.T) { testCodes(t, open) })
	t.Run("DeviceAuthorizations", func(t *testing.T) { testDeviceAuthorizations(t, open) })
	t.Run("RefreshTokens", func(t *testing.T) { testRefreshTokens(t, open) })
	t.Run("Consents", func(t *testing.T) { testConsents(t, open) })
	t.Run("Delegations", func(t *testing.T) { testDelegations(t, open) })
	t.Run("SigningKeys", func(t *testing.T) { testSigningKeys(t, open) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
	t.Run("AuditLatest", func(t *testing.T) { testAuditLatest(t, open) })
	t.Run("Replay", func(t *testing.T) { testReplay(t, open) })
	t.Run("Revocations", func(t *testing.T) { testRevocations(t, open) })
	t.Run("SignIns", func(t *testing.T) { testSignIns(t, open) })
	t.Run("Roles", func(t *testing.T) { testRoles(t, open) })
	t.Run("SecurityKeys", func(t *testing.T) { testSecurityKeys(t, open) })
	t.Run("SessionStepUp", func(t *testing.T) { testSessionStepUp(t, open) })
	t.Run("InTx", func(t *testing.T) { testInTx(t, open) })
	t.Run("InBatches", func(t *testing.T) { testInBatches(t, open) })
}

// t0 is the suite's fixed clock; at(d) is t0+d. t0 is not in UTC and has
// microseconds, so round trips check both.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.FixedZone("CET", 3600))

func at(d time.Duration) time.Time { return t0.Add(d) }

// concurrency is how many goroutines race for a use-once record.
const concurrency = 50

// race runs fn in n goroutines released at once and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts nil errors and errors matching want; any other error fails t.
func tally(t *testing.T, errs []error, want error) (ok, matched int) {
	t.Helper()
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, want):
			matched++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	return ok, matched
}

// wantErr fails t unless err matches want (nil: no error).
func wantErr(t *testing.T, op string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: %v", op, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", op, err, want)
	}
}

// must fails t on err.
func must(t *testing.T, op string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

// same fails t unless got equals want, times compared with Equal; times read
// back must also be in UTC.
func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if msg := diff(reflect.ValueOf(got), reflect.ValueOf(want), what); msg != "" {
		t.Errorf("%s\n got: %+v\nwant: %+v", msg, got, want)
	}
}

var timeType = reflect.TypeFor[time.Time]()

func diff(got, want reflect.Value, path string) string {
	if got.Type() == timeType {
		g, w := got.Interface().(time.Time), want.Interface().(time.Time)
		switch {
		case !g.Equal(w):
			return fmt.Sprintf("%s = %v, want %v", path, g, w)
		case !g.IsZero() && g.Location() != time.UTC:
			return fmt.Sprintf("%s is in %v, want UTC", path, g.Location())
		}
		return ""
	}
	switch got.Kind() {
	case reflect.Struct:
		for i := range got.NumField() {
			if msg := diff(got.Field(i), want.Field(i), path+"."+got.Type().Field(i).Name); msg != "" {
				return msg
			}
		}
		return ""
	case reflect.Slice:
		if got.IsNil() != want.IsNil() || got.Len() != want.Len() {
			return fmt.Sprintf("%s = %#v, want %#v", path, got.Interface(), want.Interface())
		}
		for i := range got.Len() {
			if msg := diff(got.Index(i), want.Index(i), fmt.Sprintf("%s[%d]", path, i)); msg != "" {
				return msg
			}
		}
		return ""
	}
	if !reflect.DeepEqual(got.Interface(), want.Interface()) {
		return fmt.Sprintf("%s = %#v, want %#v", path, got.Interface(), want.Interface())
	}
	return ""
}

// newUser returns a user with every field set.
func newUser(id string) store.User {
	return store.User{
		ID:            id,
		Email:         id + "@Example.COM",
		EmailVerified: true,
		Name:          "User " + id,
		CreatedAt:     at(0),
		UpdatedAt:     at(time.Minute),
	}
}

// createUser stores newUser(id).
func createUser(t *testing.T, s store.Store, id string) store.User {
	t.Helper()
	u := newUser(id)
	must(t, "Users.Create", s.Users().Create(t.Context(), u))
	return u
}
