package gerrittest

import (
	"bytes"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// Real Gerrit answers a ref advertisement (GET info/refs) from JGit's ref
// database, in its own process. The simulator runs C git's http-backend,
// which starts upload-pack: two processes and about 5 ms of CPU for each
// answer, so a client checking a thousand projects measured the
// simulator's process starts rather than itself (bench/'s steady poll).
// An answer is therefore kept, and given again while the repository's
// HEAD, config and every ref read byte for byte as they did when it was
// made: the bytes http-backend would give, without starting it.

// advertisement is one kept answer to GET info/refs.
type advertisement struct {
	state  []byte // refState when it was made
	status int
	header http.Header
	body   []byte
}

// adverts keeps the answers, by project, query, protocol and caller.
type adverts struct {
	mu   sync.Mutex
	m    map[string]*advertisement
	runs atomic.Int64 // http-backend runs for an advertisement (tests)
}

// maxAdverts bounds the answers kept; past it they are all forgotten.
const maxAdverts = 10000

// serveAdvertisement answers GET info/refs of the repository at dir with
// the kept answer if its refs have not changed, else runs backend and
// keeps what it answered when the refs did not change while it ran.
func (s *Server) serveAdvertisement(w http.ResponseWriter, r *http.Request, backend http.Handler, dir, key string) {
	before, err := refState(dir)
	if err != nil {
		backend.ServeHTTP(w, r)
		return
	}
	s.adverts.mu.Lock()
	a := s.adverts.m[key]
	s.adverts.mu.Unlock()
	if a == nil || !bytes.Equal(a.state, before) {
		s.adverts.runs.Add(1)
		rec := &recorder{header: http.Header{}}
		backend.ServeHTTP(rec, r)
		a = &advertisement{state: before, status: rec.status, header: rec.header, body: rec.body.Bytes()}
		if after, err := refState(dir); err == nil && bytes.Equal(after, before) && a.status == http.StatusOK {
			s.adverts.mu.Lock()
			if s.adverts.m == nil || len(s.adverts.m) >= maxAdverts {
				s.adverts.m = map[string]*advertisement{}
			}
			s.adverts.m[key] = a
			s.adverts.mu.Unlock()
		}
	}
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.WriteHeader(a.status)
	w.Write(a.body)
}

// refState is everything of the repository at dir an advertisement is made
// from, as read now: HEAD, config, packed-refs and each file below refs/
// (lock files included: one only makes the state differ), each with its
// path. Tag objects, which peeled lines come from, never change.
func refState(dir string) ([]byte, error) {
	var b bytes.Buffer
	add := func(rel string) error {
		c, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		b.WriteString(rel)
		b.WriteByte(0)
		if err == nil {
			b.WriteByte(1)
			b.Write(c)
		}
		b.WriteByte(0)
		return nil
	}
	for _, rel := range []string{"HEAD", "config", "packed-refs"} {
		if err := add(rel); err != nil {
			return nil, err
		}
	}
	err := filepath.WalkDir(filepath.Join(dir, "refs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		return add(rel)
	})
	return b.Bytes(), err
}

// recorder keeps what a handler answered.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}
