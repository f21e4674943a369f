package gerrittest

import (
	"net/url"

	"github.com/gerritgate/gerritgate/gate"
)

// A project's READ rules, simplified: a ref with no rules is readable by
// everyone (a new site's All-Projects grants Anonymous Users READ on
// refs/*); SetReadAccess makes READ on one ref exclusive to some groups,
// as an exclusive section of project.config does.

// SetReadAccess makes READ on ref (e.g. refs/heads/main) of a project
// exclusive to the groups (UUIDs) given, recursively through included
// groups; with none, no account may read it.
func (s *Server) SetReadAccess(projectName, ref string, groups ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.project(projectName)
	if err != nil {
		return err
	}
	for _, u := range groups {
		if s.groupByUUID(u) == nil {
			return errorf(422, "group %s not found", u)
		}
	}
	if p.read == nil {
		p.read = map[string][]string{}
	}
	p.read[ref] = append([]string{}, groups...)
	return nil
}

// ClearReadAccess removes a ref's READ rules: everyone may read it again.
func (s *Server) ClearReadAccess(projectName, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.project(projectName)
	if err != nil {
		return err
	}
	delete(p.read, ref)
	return nil
}

// AllowViewAccess gives an account the View Access global capability,
// which check.access requires of its caller (admin has it).
func (s *Server) AllowViewAccess(a gate.Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.viewAccess == nil {
		s.viewAccess = map[int]bool{}
	}
	s.viewAccess[a.ID] = true
}

// canRead applies a project's READ rules to an account; s.mu is held.
func (s *Server) canRead(p *project, accountID int, ref string) bool {
	groups, ok := p.read[ref]
	if !ok {
		return true
	}
	for _, u := range groups {
		if g := s.groupByUUID(u); g != nil && s.isMember(g, accountID) {
			return true
		}
	}
	return false
}

// checkAccessJSON answers GET /projects/{p}/check.access as Gerrit does:
// the caller needs View Access (403), the account must exist (422), perm
// needs ref (400); the answer is an AccessCheckInfo whose status is 200
// or 403.
func (s *Server) checkAccessJSON(projectName string, q url.Values, caller *account) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if caller == nil || (caller.ID != 1000000 && !s.viewAccess[caller.ID]) {
		return nil, errorf(403, "view access not permitted")
	}
	p, err := s.project(projectName)
	if err != nil {
		return nil, err
	}
	id, ref, perm := q.Get("account"), q.Get("ref"), q.Get("perm")
	if id == "" {
		return nil, errorf(400, "input requires 'account'")
	}
	if perm != "" && ref == "" {
		return nil, errorf(400, "must set 'ref' when specifying 'perm'")
	}
	if perm != "" && perm != "read" {
		return nil, errorf(400, "the simulator checks perm=read only, got %q", perm)
	}
	a := s.findAccount(id, caller)
	if a == nil {
		return nil, errorf(422, "cannot find account %s", id)
	}
	if ref == "" {
		ref = "refs/heads/" + defaultBranch
	}
	if !s.canRead(p, a.ID, ref) {
		return map[string]any{"status": 403, "message": "user " + a.Username + " lacks permission read for " + ref + " in project " + p.name}, nil
	}
	return map[string]any{"status": 200}, nil
}
