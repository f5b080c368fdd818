package signin_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/broker/store/pgtest"
)

// TestMain stops the throwaway PostgreSQL cluster the replica tests start.
func TestMain(m *testing.M) { pgtest.Main(m) }
