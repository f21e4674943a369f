package gerrittest

import (
	"net/http"
	"net/http/cgi"
	"net/url"
	"regexp"
	"strings"

	"github.com/gerritgate/gerritgate/internal/gitexec"
)

// gitRoute matches the smart HTTP routes under /<project>[.git]/.
var gitRoute = regexp.MustCompile(`^/(.+?)(?:\.git)?/(info/refs|git-upload-pack|git-receive-pack)$`)

// serveGit runs C git's http-backend for a project, read-only. Anonymous
// reads are allowed, as on a Gerrit whose projects Anonymous Users may read.
func (s *Server) serveGit(w http.ResponseWriter, r *http.Request, escProject, route string, caller *account) {
	project, err := url.PathUnescape(escProject)
	if err != nil {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	if route == "git-receive-pack" || r.URL.Query().Get("service") == "git-receive-pack" {
		http.Error(w, "receive-pack not permitted on this simulated server", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	_, ok := s.projects[project]
	s.mu.Unlock()
	if !ok {
		http.Error(w, "Repository not found", http.StatusNotFound)
		return
	}
	env := gitexec.Env(
		"GIT_PROJECT_ROOT="+s.dir,
		"GIT_HTTP_EXPORT_ALL=1",
		"HOME="+s.dir,
	)
	if caller != nil {
		env = append(env, "REMOTE_USER="+caller.Username)
	}
	h := &cgi.Handler{
		Path:   s.gitPath,
		Args:   []string{"http-backend"},
		Env:    env,
		Stderr: discard{},
	}
	// http-backend finds the repository from PATH_INFO, which cgi derives
	// from the URL path: point it at <project>.git whatever the client used.
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + project + ".git/" + route
	r2.URL.RawPath = ""
	if route == "info/refs" && r.Method == http.MethodGet {
		user := ""
		if caller != nil {
			user = caller.Username
		}
		key := strings.Join([]string{project, r.URL.RawQuery, r.Header.Get("Git-Protocol"), user}, "\x00")
		s.serveAdvertisement(w, r2, h, s.RepoDir(project), key)
		return
	}
	h.ServeHTTP(w, r2)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
