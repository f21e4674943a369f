package access

import (
	"net/http"
	"strings"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/githttp"
)

// Source gives the List in force now: a *Watcher, or a fixed *List.
type Source interface {
	Current() *List
}

// HTTPAuth checks smart-HTTP requests against a Source; it satisfies
// githttp.Authorizer. A token is accepted as the password of HTTP Basic
// auth (any user name, as Flux and C git send one) or as
// "Authorization: Bearer <token>".
type HTTPAuth struct {
	src Source
}

var _ githttp.Authorizer = (*HTTPAuth)(nil)

// NewHTTPAuth returns an HTTPAuth reading the List from src on every
// request.
func NewHTTPAuth(src Source) *HTTPAuth { return &HTTPAuth{src: src} }

// Authorize returns the reader a request authenticates as.
//
// A project listed under anonymous is served whatever the credentials
// (reader Anonymous when they are missing or wrong). Otherwise missing or
// wrong credentials give githttp.ErrUnauthenticated, and a reader who may
// not read the project gets githttp.ErrForbidden along with its name for
// the log.
func (a *HTTPAuth) Authorize(r *http.Request, project string) (string, error) {
	l := a.src.Current()
	if token, ok := requestToken(r); ok {
		if reader, ok := l.AuthorizeToken(token); ok {
			if l.CanRead(reader, project) {
				return reader, nil
			}
			return reader, githttp.ErrForbidden
		}
	}
	if l.Anonymous(project) {
		return Anonymous, nil
	}
	return "", githttp.ErrUnauthenticated
}

// Reader returns the reader whose valid token the request carries, for
// requests about no one project (the status page, the API, metrics).
func (a *HTTPAuth) Reader(r *http.Request) (string, bool) {
	if token, ok := requestToken(r); ok {
		return a.src.Current().AuthorizeToken(token)
	}
	return "", false
}

// Metrics reports whether the request carries a metrics token (see
// List.MetricsToken); a reader's token is not one.
func (a *HTTPAuth) Metrics(r *http.Request) bool {
	token, ok := requestToken(r)
	return ok && a.src.Current().MetricsToken(token)
}

// Environments is List.Environments of the List in force.
func (a *HTTPAuth) Environments(reader, project string) storage.Grant {
	return a.src.Current().Environments(reader, project)
}

// CanSee reports whether reader (Anonymous for none) may know of
// environment env of project.
func (a *HTTPAuth) CanSee(reader, project, env string) bool {
	l := a.src.Current()
	if reader == Anonymous || reader == "" {
		return l.Anonymous(project)
	}
	return l.CanReadEnv(reader, project, env)
}

// requestToken returns the token a request carries, if any.
func requestToken(r *http.Request) (string, bool) {
	if _, password, ok := r.BasicAuth(); ok {
		return password, password != ""
	}
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
