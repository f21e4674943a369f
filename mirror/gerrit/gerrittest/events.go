package gerrittest

import (
	"encoding/json"
	"fmt"

	"sync"

	"github.com/gliderlabs/ssh"
)

// events fans Gerrit's stream-events out to SSH sessions running
// `gerrit stream-events`: one JSON object a line, as Gerrit writes them
// (type, eventCreatedOn in epoch seconds, change or refUpdate). Nothing is
// replayed to a session that connects later, as with Gerrit.
type events struct {
	mu   sync.Mutex
	subs map[chan []byte]struct{}
}

func (s *Server) emit(v map[string]any) {
	v["eventCreatedOn"] = s.clock().Unix()
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	s.events.mu.Lock()
	defer s.events.mu.Unlock()
	for ch := range s.events.subs {
		select {
		case ch <- b:
		default: // a slow reader misses events, as Gerrit drops them
		}
	}
}

// emitChange reports a change event. Callers hold s.mu.
func (s *Server) emitChange(typ string, c *change) {
	s.emit(map[string]any{
		"type":    typ,
		"project": c.project.name,
		"refName": "refs/heads/" + c.branch,
		"change":  map[string]any{"project": c.project.name, "branch": c.branch, "number": c.number, "id": c.changeID},
	})
}

// emitRefUpdated reports a branch update. Callers hold s.mu.
func (s *Server) emitRefUpdated(project, ref, oldRev, newRev string) {
	s.emit(map[string]any{
		"type":      "ref-updated",
		"refUpdate": map[string]any{"project": project, "refName": ref, "oldRev": oldRev, "newRev": newRev},
	})
}

// streamEvents serves `gerrit stream-events` until the session ends.
func (s *Server) streamEvents(sess ssh.Session) {
	ch := make(chan []byte, 64)
	s.events.mu.Lock()
	if s.events.subs == nil {
		s.events.subs = map[chan []byte]struct{}{}
	}
	s.events.subs[ch] = struct{}{}
	s.events.mu.Unlock()
	defer func() {
		s.events.mu.Lock()
		delete(s.events.subs, ch)
		s.events.mu.Unlock()
	}()
	for {
		select {
		case <-sess.Context().Done():
			return
		case b := <-ch:
			if _, err := fmt.Fprintf(sess, "%s\n", b); err != nil {
				return
			}
		}
	}
}
