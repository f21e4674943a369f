package status

import "time"

// Policy is the policy in force and what waits to replace it. For a
// policy reviewed in Gerrit, Commit is the policy branch's commit in
// force ("" while no approved commit of it parses: nothing advances) and
// Waiting the newer commits the gate does not use, each with why.
type Policy struct {
	Project string    `json:"project"`
	Branch  string    `json:"branch"`
	Path    string    `json:"path"`
	Commit  string    `json:"commit,omitempty"`
	Subject string    `json:"subject,omitempty"`
	Since   time.Time `json:"since,omitzero"` // when the gate put Commit in force
	// Reason says why no commit is in force (Commit "").
	Reason  string          `json:"reason,omitempty"`
	Waiting []PolicyWaiting `json:"waiting,omitempty"`
}

// PolicyWaiting is a policy commit newer than the one in force that the
// gate does not use.
type PolicyWaiting struct {
	Commit string `json:"commit"`
	// Why is one word for programs: unapproved (the policyPolicy has not
	// approved it, or Gerrit could not be asked) or unparsable (approved,
	// but the file is missing or refused); Message says it for people,
	// with file:line:col for a file that does not parse.
	Why     string `json:"why"`
	Message string `json:"message"`
}

// SetPolicy keeps the state of the reviewed policy.
func (b *Board) SetPolicy(p Policy) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.policy = &p
}

// Policy returns the state of the reviewed policy; false when the policy
// is a local file.
func (b *Board) Policy() (Policy, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.policy == nil {
		return Policy{}, false
	}
	p := *b.policy
	return p, true
}

// PolicyEnv is the environment the gate advances in a reviewed policy's
// project (deploy/gerritgate-policy): a viewer sees the policy's state
// when it may read that environment of that project.
const PolicyEnv = "gerritgate-policy"

// policyFor returns the reviewed policy's state for a viewer who may see
// its project's policy environment; nil otherwise.
func (h *Handler) policyFor(canSee func(project, env string) bool) *Policy {
	p, ok := h.board.Policy()
	if !ok || !canSee(p.Project, PolicyEnv) {
		return nil
	}
	return &p
}
