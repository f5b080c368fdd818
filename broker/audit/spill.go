package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// spillFile is the local, append-only file of audit events the database could not
// take: one JSON object a line, fsynced per batch, mode 0600, locked against a
// second process (two replicas must not share one: each truncates after its
// replay).
type spillFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
	size int64 // bytes written and synced
}

// spilled is one event as a line of the spill file.
type spilled struct {
	EventID   string          `json:"event_id"`
	Time      time.Time       `json:"time"`
	Actor     string          `json:"actor"`
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	IP        string          `json:"ip"`
	RequestID string          `json:"request_id"`
	Details   json.RawMessage `json:"details,omitempty"`
}

func openSpill(path string) (*spillFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit spill file: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.Mode().Perm()&0o077 != 0 {
		// Like the database file (DATA-14): the events name people and addresses.
		err = fmt.Errorf("%s is readable or writable by group or others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	if err == nil {
		err = lockFile(f)
	}
	if err != nil {
		_ = f.Close() // err says what is wrong
		return nil, fmt.Errorf("audit spill file: %w", err)
	}
	return &spillFile{path: path, f: f, size: st.Size()}, nil
}

// close releases the file and its lock; later appends fail.
func (s *spillFile) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

// pending reports whether the file holds events not yet replayed.
func (s *spillFile) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size > 0
}

// append writes events and syncs the file: they are kept once it returns nil.
func (s *spillFile) append(events []store.AuditEvent) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b) // Encode ends each object with a newline
	for _, e := range events {
		if err := enc.Encode(spilled{EventID: e.EventID, Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target,
			IP: e.IP, RequestID: e.RequestID, Details: json.RawMessage(e.Details)}); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Write(b.Bytes()); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	s.size += int64(b.Len())
	return nil
}

// replay writes the file's events through write, batch at a time, then
// truncates it if nothing was appended meanwhile (else the next replay writes
// all again, and the event IDs keep that from storing anything twice). On a
// write failure the file is left whole. It returns how many events it wrote.
func (s *spillFile) replay(write func([]store.AuditEvent) error, batch int, log *slog.Logger) (int, error) {
	s.mu.Lock()
	size := s.size
	s.mu.Unlock()
	if size == 0 {
		return 0, nil
	}
	r := bufio.NewReader(io.NewSectionReader(s.f, 0, size))
	var events []store.AuditEvent
	written := 0
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			var sp spilled
			if line[len(line)-1] != '\n' || json.Unmarshal(line, &sp) != nil {
				// A line cut short by a crash in mid-write: its batch was never
				// synced, so no caller was told it was kept.
				log.Error("audit: spill file: unreadable line skipped", "path", s.path, "line", string(line))
			} else {
				events = append(events, store.AuditEvent{EventID: sp.EventID, Time: sp.Time, Actor: sp.Actor,
					Action: sp.Action, Target: sp.Target, IP: sp.IP, RequestID: sp.RequestID, Details: []byte(sp.Details)})
			}
		}
		if len(events) >= batch || (err != nil && len(events) > 0) {
			if werr := write(events); werr != nil {
				return written, werr
			}
			written += len(events)
			events = events[:0]
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return written, fmt.Errorf("audit spill file: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size != size {
		return written, nil
	}
	if err := s.f.Truncate(0); err != nil {
		return written, fmt.Errorf("audit spill file: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return written, fmt.Errorf("audit spill file: %w", err)
	}
	s.size = 0
	return written, nil
}
