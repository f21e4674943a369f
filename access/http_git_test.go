package access_test

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/access"
	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/githttp"
	"github.com/gerritgate/gerritgate/storage/storagetest"
)

func gitRun(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	return storagetest.Git(t, dir, nil, args...)
}

// serve makes each project a served repository with deploy/prod.
func serve(t *testing.T, projects ...string) *storage.Store {
	t.Helper()
	return storagetest.Serve(t, projects...).Store
}

// TestHTTPAuthWithCGit puts HTTPAuth in front of githttp and clones with
// C git, which sends credentials only after a 401, and with a bearer
// header sent up front as Flux does.
func TestHTTPAuthWithCGit(t *testing.T) {
	store := serve(t, "platform/fleet", "public/docs", "other/secret")
	token, hashed, err := access.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	l, err := access.Parse("access.yaml", []byte("readers:\n"+
		"  - name: flux\n    projects: [\"platform/*\"]\n    tokens: [\""+hashed+"\"]\n"+
		"anonymous: [\"public/*\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(githttp.New(store, githttp.WithAuthorizer(access.NewHTTPAuth(l))))
	defer srv.Close()

	helper := "credential.helper=!f() { echo username=git; echo password=" + token + "; }; f"
	tests := []struct {
		what    string
		config  []string
		project string
		ok      bool
		want    string
	}{
		{"anonymous project, no credentials", nil, "public/docs", true, ""},
		{"private project, no credentials", nil, "platform/fleet", false, "could not read Username"},
		{"private project, basic after a 401", []string{"-c", helper}, "platform/fleet", true, ""},
		{"private project, bearer up front", []string{"-c", "http.extraHeader=Authorization: Bearer " + token}, "platform/fleet", true, ""},
		{"private project, wrong bearer", []string{"-c", "http.extraHeader=Authorization: Bearer nope"}, "platform/fleet", false, "could not read Username"},
		{"project not granted", []string{"-c", helper}, "other/secret", false, "not found"},
		{"missing project", []string{"-c", helper}, "platform/missing", false, "not found"},
	}
	for _, tt := range tests {
		args := append(tt.config, "clone", "-q", "-b", "deploy/prod", srv.URL+"/"+tt.project+".git", filepath.Join(t.TempDir(), "c"))
		out, err := gitRun(t, "", args...)
		if (err == nil) != tt.ok || !strings.Contains(out, tt.want) {
			t.Errorf("%s: err=%v, want ok=%v and %q in:\n%s", tt.what, err, tt.ok, tt.want, out)
		}
		if strings.Contains(out, token) {
			t.Errorf("%s: git shows the token:\n%s", tt.what, out)
		}
	}
}
