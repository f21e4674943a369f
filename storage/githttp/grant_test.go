package githttp_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/githttp"
	"github.com/gerritgate/gerritgate/storage/storagetest"
)

// grants is an Authorizer: the reader is the Basic user name, granted the
// environments listed for it.
type grants map[string]storage.Grant

func (g grants) Authorize(r *http.Request, project string) (string, error) {
	user, _, _ := r.BasicAuth()
	if _, ok := g[user]; !ok {
		return "", githttp.ErrForbidden
	}
	return user, nil
}

func (g grants) Environments(reader, project string) storage.Grant { return g[reader] }

// Each reader is served the repository its grant picks: one environment's
// own, the whole one for every environment, a refusal with why for some
// but not all, 404 for an environment the project does not have, and 503
// (logged) when the environment's repository cannot be brought in step.
func TestServesTheRepositoryOfTheGrant(t *testing.T) {
	s := storagetest.Serve(t, "platform/fleet")
	served, err := s.Store.Served("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	if err := served.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/staging", New: plumbing.NewHash(s.Gated)}); err != nil {
		t.Fatal(err)
	}
	auth := grants{
		"stager": {Envs: []string{"staging"}},
		"ops":    {All: true},
		"both":   {Envs: []string{"prod", "staging"}},
		"pair":   {Envs: []string{"staging", "qa"}},
		"qa":     {Envs: []string{"qa"}},
		"none":   {},
	}
	srv := httptest.NewServer(githttp.New(s.Store, githttp.WithAuthorizer(auth)))
	t.Cleanup(srv.Close)
	get := func(reader string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/platform/fleet.git/info/refs?service=git-upload-pack", nil)
		req.SetBasicAuth(reader, "x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		reader     string
		code       int
		shows, not string
	}{
		{"stager", 200, "refs/heads/deploy/staging", "refs/heads/deploy/prod"},
		{"ops", 200, "refs/heads/deploy/prod", ""},
		{"both", 200, "refs/heads/deploy/prod", ""},
		{"pair", 403, "ask for one environment, or all of them", "refs/"},
		{"none", 403, "ask for one environment", "refs/"},
		{"qa", 404, "not found", "refs/"},
	}
	for _, tt := range tests {
		code, body := get(tt.reader)
		if code != tt.code || !strings.Contains(body, tt.shows) || (tt.not != "" && strings.Contains(body, tt.not)) {
			t.Errorf("%s: %d %q, want %d showing %q and not %q", tt.reader, code, body, tt.code, tt.shows, tt.not)
		}
	}
	// A transaction of the served repository awaits recovery: staging's
	// repository cannot be checked against it, and is not served.
	if err := os.WriteFile(filepath.Join(served.Dir(), "gerritgate-txn"), []byte("refs/heads/deploy/staging\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if code, body := get("stager"); code != http.StatusServiceUnavailable || strings.Contains(body, "refs/") {
		t.Errorf("stager during an unrecovered transaction: %d %q, want 503", code, body)
	}
	if _, err := s.Store.ReaderPath("platform/fleet", storage.Grant{Envs: []string{"staging"}}); errors.Is(err, storage.ErrNotFound) || err == nil {
		t.Errorf("ReaderPath = %v, want an error other than not found", err)
	}
}
