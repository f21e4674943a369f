package gerrittest

import (
	"fmt"
	"strings"

	"github.com/gerritgate/gerritgate/gate"
)

// Submit types, as in a project's submit type setting.
const (
	FastForwardOnly    = "FAST_FORWARD_ONLY"
	MergeIfNecessary   = "MERGE_IF_NECESSARY"
	MergeAlways        = "MERGE_ALWAYS"
	RebaseIfNecessary  = "REBASE_IF_NECESSARY"
	RebaseAlways       = "REBASE_ALWAYS"
	CherryPick         = "CHERRY_PICK"
	defaultSubmitType  = MergeIfNecessary
	defaultBranch      = "main"
	serverIdentName    = "Gerrit Code Review"
	serverIdentAddress = "gerrit@example.com"
)

// Label is a review label of a project.
type Label struct {
	Name string
	// Values maps each value to its description; the lowest is the label's
	// MIN, the highest its MAX.
	Values map[int]string
	// DisallowPostSubmit refuses votes on merged changes
	// (label.X.allowPostSubmit = false).
	DisallowPostSubmit bool
	// CopyOn lists the change kinds for which votes are copied to a new
	// patch set (Gerrit's copyCondition changekind:...); CopyMin also copies
	// MIN votes (is:MIN).
	CopyOn  []string
	CopyMin bool
}

// CodeReview is Gerrit's default Code-Review label.
func CodeReview() Label {
	return Label{
		Name: "Code-Review",
		Values: map[int]string{
			-2: "This shall not be submitted",
			-1: "I would prefer this is not submitted as is",
			0:  "No score",
			1:  "Looks good to me, but someone else must approve",
			2:  "Looks good to me, approved",
		},
		CopyOn:  []string{"NO_CHANGE", "TRIVIAL_REBASE"},
		CopyMin: true,
	}
}

// Verified is the usual Verified label.
func Verified() Label {
	return Label{
		Name:   "Verified",
		Values: map[int]string{-1: "Fails", 0: "No score", 1: "Verified"},
		CopyOn: []string{"NO_CHANGE", "NO_CODE_CHANGE"},
	}
}

func (l Label) min() int {
	m, first := 0, true
	for v := range l.Values {
		if first || v < m {
			m = v
		}
		first = false
	}
	return m
}

func (l Label) max() int {
	m, first := 0, true
	for v := range l.Values {
		if first || v > m {
			m = v
		}
		first = false
	}
	return m
}

// Requirement is a submit requirement. Expressions use Gerrit's syntax with
// the atoms label:NAME=MAX|MIN|N (also >= and <=), is:true, is:false,
// branch:NAME, joined by AND, OR, NOT, "-" and parentheses.
type Requirement struct {
	Name           string
	Description    string
	Applicability  string // empty: always applies
	Submittability string
	Override       string // empty: cannot be overridden
}

// CodeReviewRequirement is the Code-Review requirement of a new Gerrit
// site: a MAX vote and no MIN vote.
func CodeReviewRequirement() Requirement {
	return Requirement{
		Name:           "Code-Review",
		Description:    "Changes must have at least one MAX Code-Review vote and no MIN to be submittable.",
		Submittability: "label:Code-Review=MAX AND -label:Code-Review=MIN",
	}
}

// project is a Gerrit project.
type project struct {
	name         string
	dir          string
	submitType   string
	labels       []Label
	requirements []Requirement
	read         map[string][]string // ref -> groups with exclusive READ (access.go)
}

func (p *project) label(name string) (Label, bool) {
	for _, l := range p.labels {
		if strings.EqualFold(l.Name, name) {
			return l, true
		}
	}
	return Label{}, false
}

// ProjectOption configures a project at creation.
type ProjectOption func(*project)

// WithLabels replaces the default labels (Code-Review).
func WithLabels(labels ...Label) ProjectOption {
	return func(p *project) { p.labels = labels }
}

// WithRequirements replaces the default submit requirements (Code-Review).
func WithRequirements(reqs ...Requirement) ProjectOption {
	return func(p *project) { p.requirements = reqs }
}

// CreateProject creates a project with submitType ("" for
// MERGE_IF_NECESSARY) and a bare repository whose main branch holds
// Gerrit's "Initial empty repository" commit. Names may contain "/".
func (s *Server) CreateProject(name, submitType string, opts ...ProjectOption) error {
	if err := validProjectName(name); err != nil {
		return err
	}
	if submitType == "" {
		submitType = defaultSubmitType
	}
	switch submitType {
	case FastForwardOnly, MergeIfNecessary, MergeAlways, RebaseIfNecessary, RebaseAlways, CherryPick:
	default:
		return errorf(400, "invalid submit type %q", submitType)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.projects[name]; ok {
		return errorf(409, "Project already exists")
	}
	p := &project{
		name:         name,
		dir:          repoDir(s.dir, name),
		submitType:   submitType,
		labels:       []Label{CodeReview()},
		requirements: []Requirement{CodeReviewRequirement()},
	}
	for _, o := range opts {
		o(p)
	}
	for _, r := range p.requirements {
		for _, e := range []string{r.Applicability, r.Submittability, r.Override} {
			if e == "" {
				continue
			}
			if _, err := parseQuery(e); err != nil {
				return errorf(400, "submit requirement %s: %v", r.Name, err)
			}
		}
	}
	admin := s.addAccountLocked("admin")
	now := s.tick()
	if _, err := s.initRepo(p.dir, defaultBranch, ident{admin.Name, admin.Email, now}); err != nil {
		return err
	}
	s.projects[name] = p
	s.emit(map[string]any{"type": "project-created", "projectName": name, "projectHead": "refs/heads/" + defaultBranch})
	return nil
}

func validProjectName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") ||
		strings.HasSuffix(name, ".git") || strings.Contains(name, "//") ||
		strings.ContainsAny(name, "\\:~?*<>|%\"\x00\n\t ") {
		return errorf(400, "invalid project name %q", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, ".") {
			return errorf(400, "invalid project name %q", name)
		}
	}
	return nil
}

// SetLabels replaces a project's labels. Like Gerrit, changes (merged ones
// included) show the project's current labels.
func (s *Server) SetLabels(projectName string, labels ...Label) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.project(projectName)
	if err != nil {
		return err
	}
	p.labels = labels
	return nil
}

// SetRequirements replaces a project's submit requirements. Merged changes
// keep the results stored when they were submitted.
func (s *Server) SetRequirements(projectName string, reqs ...Requirement) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.project(projectName)
	if err != nil {
		return err
	}
	p.requirements = reqs
	return nil
}

// SetSubmitType changes a project's submit type.
func (s *Server) SetSubmitType(projectName, submitType string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.project(projectName)
	if err != nil {
		return err
	}
	p.submitType = submitType
	return nil
}

func (s *Server) project(name string) (*project, error) {
	p := s.projects[name]
	if p == nil {
		return nil, errorf(404, "Not found: %s", name)
	}
	return p, nil
}

// CreateBranch creates branch at the tip of another branch (or a SHA).
func (s *Server) CreateBranch(projectName, branch, from string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.project(projectName)
	if err != nil {
		return err
	}
	sha, err := s.revParse(p.dir, from+"^{commit}")
	if err != nil || sha == "" {
		sha, err = s.revParse(p.dir, "refs/heads/"+from+"^{commit}")
	}
	if err != nil || sha == "" {
		return errorf(400, "cannot resolve %q", from)
	}
	return s.updateRef(p.dir, "refs/heads/"+branch, sha, "")
}

// BranchTip returns the SHA at the tip of a branch ("" if it does not exist).
func (s *Server) BranchTip(projectName, branch string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.project(projectName)
	if err != nil {
		return "", err
	}
	return s.revParse(p.dir, "refs/heads/"+branch)
}

// DirectPush writes a commit with files on top of a branch, as a push that
// bypasses review would: the commit belongs to no change. It returns the
// commit's SHA.
func (s *Server) DirectPush(projectName, branch string, author gate.Account, subject string, files map[string]string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.project(projectName)
	if err != nil {
		return "", err
	}
	tip, err := s.revParse(p.dir, "refs/heads/"+branch)
	if err != nil {
		return "", err
	}
	a := s.accountByID(author.ID)
	if a == nil {
		return "", errorf(422, "account %d not found", author.ID)
	}
	tree, err := s.writeTree(p.dir, tip, contents(files))
	if err != nil {
		return "", err
	}
	now := s.tick()
	id := ident{a.Name, a.Email, now}
	var parents []string
	if tip != "" {
		parents = []string{tip}
	}
	sha, err := s.commitTree(p.dir, tree, parents, subject+"\n", id, id)
	if err != nil {
		return "", err
	}
	if err := s.updateRef(p.dir, "refs/heads/"+branch, sha, tip); err != nil {
		return "", err
	}
	s.emitRefUpdated(projectName, "refs/heads/"+branch, tip, sha)
	return sha, nil
}

func contents(files map[string]string) map[string]*string {
	out := make(map[string]*string, len(files))
	for p, c := range files {
		out[p] = &c
	}
	return out
}

func (p *project) String() string { return fmt.Sprintf("project %s", p.name) }
