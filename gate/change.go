package gate

import "time"

// Change is what the gate knows about one Gerrit change: the subset of
// Gerrit's ChangeInfo that decisions rest on. The Gerrit client fills it;
// gate never talks to Gerrit itself.
type Change struct {
	Project  string
	Branch   string
	Number   int
	ChangeID string // the Change-Id footer, I...
	Subject  string
	// Status is Gerrit's status string: NEW, MERGED or ABANDONED. Anything
	// other than MERGED never approves a commit.
	Status    string
	Owner     Account
	Submitter Account   // zero unless merged by submit
	Submitted time.Time // zero unless merged

	// CurrentRevision is the SHA of the newest patch set; for a change merged
	// by a rebasing submit it is the commit Gerrit wrote onto the branch.
	CurrentRevision string
	// Revisions holds every patch set by commit SHA.
	Revisions map[string]Revision

	// Labels holds every vote on every label, 0 placeholders included, keyed
	// by label name.
	Labels map[string][]Vote
	// LabelRanges holds the lowest and highest value of each label, where
	// Gerrit said.
	LabelRanges map[string]LabelRange

	SubmitRequirements []SubmitRequirement
	Messages           []Message
}

// LabelRange is the lowest and highest value a label has.
type LabelRange struct{ Min, Max int }

// Revision is one patch set of a change.
type Revision struct {
	SHA      string
	Number   int // patch set number, from 1
	Uploader Account
	Created  time.Time
	Kind     string // Gerrit's change kind: REWORK, TRIVIAL_REBASE, NO_CODE_CHANGE, ...
	Parents  []string
	// Author is the commit's git author (CommitInfo.author); empty when
	// Gerrit did not say.
	Author Person
}

// Person is a git author or committer: a name and an email, not an
// account.
type Person struct {
	Name  string
	Email string
}

// Account identifies a Gerrit account. ID is the stable identity; the other
// fields are for people reading explanations.
type Account struct {
	ID       int
	Username string
	Name     string
	Email    string
}

// Vote is one reviewer's value on one label.
type Vote struct {
	Account    Account
	Value      int
	Date       time.Time
	PostSubmit bool // cast after the change was merged
	Tag        string
}

// SubmitRequirement is one submit requirement result as Gerrit stored it.
type SubmitRequirement struct {
	Name     string
	Status   string // SATISFIED, UNSATISFIED, OVERRIDDEN, NOT_APPLICABLE, ERROR, FORCED, ...
	IsLegacy bool
}

// Message is one change message ("Patch Set 2: Code-Review+2").
type Message struct {
	ID     string
	Author Account
	// RealAuthor is who posted the message when it was posted on behalf
	// of Author (Gerrit's real_author); zero otherwise.
	RealAuthor     Account
	Date           time.Time
	Message        string
	RevisionNumber int
	Tag            string
}
