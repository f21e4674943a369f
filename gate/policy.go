package gate

import (
	"regexp"
	"time"
)

// Config is a whole policy file: which branches of which projects deploy to
// which environments, under which named policies.
type Config struct {
	Repos []Repo
	// Policies are resolved: a policy that extends another holds the
	// inherited rules too.
	Policies map[string]*Policy
	// Source is where the policy file was read when it is reviewed in
	// Gerrit; nil for a local file. Evaluate never reads it: decisions
	// record it.
	Source *Source

	// index finds a project's entries for Match; ParsePolicy makes it.
	// Repos must not change after that (an entry appended is seen: Match
	// then walks them all).
	index *repoIndex
}

// Source is a policy file in a Gerrit project's branch, at the commit
// read.
type Source struct {
	Project string `json:"project"`
	Branch  string `json:"branch"`
	Path    string `json:"path"`
	Commit  string `json:"commit"`
}

// Repo maps one upstream branch of a project, or of every project matching
// a pattern, to its environments.
type Repo struct {
	// Project is a Gerrit project name, or a project pattern such as
	// platform/* or platform/** (internal/projectglob; see IsPattern).
	// Match returns copies with the concrete project here and the pattern
	// in Pattern.
	Project      string
	Branch       string
	Environments []Environment
	// AcceptFrom names other branches of the project whose merged changes
	// count for a commit of Branch (e.g. stable merged into main), judged
	// by the environment's own policy like a change of Branch.
	AcceptFrom []string
	// Pattern is the project pattern of the policy file entry a Repo
	// returned by Match came from; empty in Config.Repos.
	Pattern string
}

// Environment is one deploy/<Name> branch.
type Environment struct {
	Name   string
	Policy string
	// Baseline is where deploy/<Name> starts when it does not exist yet: a
	// commit SHA an operator names, or "upstream": the branch is decided
	// from its root like any pending range (Gerrit's initial empty commit
	// passes), and waits for an operator when its root is not approved.
	Baseline string
	// After names the environment of the same repo entry this one follows:
	// it moves only to commits deploy/<After> has contained for Soak.
	// "" when it follows none.
	After string
	Soak  time.Duration
	// Schedule is when it may advance: windows and freezes.
	Schedule Schedule
	// Notify are the Flux Receivers woken after each movement.
	Notify []Receiver
}

// Policy is one named set of rules a commit must meet. Every rule applies;
// a commit is approved only when all of them pass.
type Policy struct {
	Name string `json:"name"`
	// Extends names the policy this one was built on, for people; the
	// fields below already hold the inherited rules.
	Extends string `json:"extends"`
	// Labels: for each label, at least one counted vote at or above Min.
	Labels map[string]LabelRule `json:"labels"`
	// Vetoes: any vote at or below the value blocks, post-submit votes,
	// self-votes and votes on other patch sets included.
	Vetoes map[string]int `json:"vetoes"`
	// SubmitRequirements: which of Gerrit's stored submit requirement
	// results must count as met. The zero value checks none.
	SubmitRequirements Requirements `json:"submitRequirements"`
	// AllowOverridden lets OVERRIDDEN and FORCED requirements count as met.
	AllowOverridden bool `json:"allowOverridden"`
	// SelfApproval, when false, ignores for Labels, Approvers and Owners
	// the votes of the change owner and of the uploaders of the code the
	// vote reviewed (votes.go says exactly which votes count).
	SelfApproval bool `json:"selfApproval"`
	// Approvers is how many distinct accounts must have a counted
	// Code-Review vote at or above its Min; 0 adds nothing to Labels.
	Approvers int `json:"approvers"`
	// Owners: a changed file matching an entry's paths needs a counted
	// Code-Review vote at or above its Min by a member of one of the
	// entry's groups.
	Owners []OwnerRule `json:"owners"`
}

// LabelRule is what one label needs.
type LabelRule struct {
	Min int `json:"min"`
}

// Requirements says which submit requirements must be met.
type Requirements struct {
	// AllApplicable: every requirement Gerrit reports must be SATISFIED
	// or NOT_APPLICABLE (policy file: submitRequirements: satisfied).
	AllApplicable bool `json:"allApplicable"`
	// Names: each of these must be reported and SATISFIED (policy file:
	// submitRequirements: [Name, ...]).
	Names []string `json:"names"`
}

// Set reports whether r checks anything.
func (r Requirements) Set() bool { return r.AllApplicable || len(r.Names) > 0 }

// OwnerRule gives the files under Paths to the members of Groups.
type OwnerRule struct {
	// Paths are slash-separated globs over repository paths: path.Match
	// within a segment, and ** as a whole segment for any number of
	// segments (clusters/prod/**).
	Paths []string `yaml:"paths" json:"paths"`
	// Groups are Gerrit group ids (a UUID, or a name while it is unique);
	// the caller resolves them into Range.Groups.
	Groups []string `yaml:"groups" json:"groups"`
	// Approvals is how many distinct members of Groups must approve (0
	// or 1: one). The policy file does not set it; the service's
	// policyPolicy does (two members of the policy's reviewers).
	Approvals int `yaml:"-" json:"approvals,omitempty"`
}

// ReviewLabel is the label Approvers and Owners count.
const ReviewLabel = "Code-Review"

// Baseline values other than a SHA.
const BaselineUpstream = "upstream"

// RequirementsSatisfied is the policy file value of submitRequirements that
// sets Requirements.AllApplicable.
const RequirementsSatisfied = "satisfied"

// maxApprovers bounds Approvers: a larger number is a typo, not a policy.
const maxApprovers = 100

var (
	envNameRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)
	labelRE       = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	branchRE      = regexp.MustCompile(`^[A-Za-z0-9._/+@-]{1,255}$`)
	policyNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	requirementRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)
)

// PolicyNames lists the defined policies, sorted.
func (c *Config) PolicyNames() []string {
	return sortedKeys(c.Policies)
}

// GroupNames lists, sorted and once each, the groups the policy's owner
// rules name: what the caller must resolve into Range.Groups.
func (p *Policy) GroupNames() []string {
	set := map[string]bool{}
	for _, o := range p.Owners {
		for _, g := range o.Groups {
			set[g] = true
		}
	}
	return sortedKeys(set)
}

// GroupNames lists, sorted and once each, the groups any policy names.
func (c *Config) GroupNames() []string {
	set := map[string]bool{}
	for _, p := range c.Policies {
		for _, g := range p.GroupNames() {
			set[g] = true
		}
	}
	return sortedKeys(set)
}
