package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// handleHealthz says the process is up; it checks nothing else, so an orchestrator
// does not restart a healthy process because its database blipped.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// handleReadyz says whether this replica can serve: its database answers.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, code := "ok", http.StatusOK
	db := "ok"
	if err := s.store.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness: database unreachable", "request_id", RequestID(ctx), "error", err.Error())
		status, code, db = "unavailable", http.StatusServiceUnavailable, "unreachable"
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": map[string]string{"database": db}})
}

// writeJSON writes v as the whole response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
