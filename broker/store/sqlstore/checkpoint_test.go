package sqlstore

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSQLiteCheckpointsInTheBackground: the writer's commits leave the WAL to
// the checkpointer (wal_autocheckpoint is far above what the writes below add),
// which copies it into the database file on its own: in WAL mode only a
// checkpoint writes that file, so its growth shows the checkpointer ran. Close
// stops it.
func TestSQLiteCheckpointsInTheBackground(t *testing.T) {
	url := sqliteURL(t)
	path := strings.TrimPrefix(url, "sqlite:")
	db := openMigrated(t, url)
	ctx := t.Context()
	if _, _, err := db.checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, path)
	for i := range 400 {
		must(t, db.RefreshTokens().Create(ctx, liveRefresh(fmt.Sprint("cp-", i), fmt.Sprint("fam-", i))))
	}
	deadline := time.Now().Add(10 * time.Second)
	for fileSize(t, path) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("the database file stayed at %d bytes for 10 s after 400 commits: no checkpoint ran", before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	frames, copied, err := db.checkpoint(ctx)
	if err != nil || copied != frames {
		t.Fatalf("checkpoint: %d of %d frames copied, %v", copied, frames, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-db.checkpointsDone:
	default:
		t.Fatal("Close returned with the checkpointer still running")
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
