package gate

import "time"

// Change is what the gate knows about one Gerrit change: the subset of
// Gerrit's ChangeInfo that decisions rest on. The Gerrit client fills it;
// gate never talks to Gerrit itself.
type Change struct {
	Project  string `json:"project"`
	Branch   string `json:"branch"`
	Number   int    `json:"number"`
	ChangeID string `json:"changeID"` // the Change-Id footer, I...
	Subject  string `json:"subject"`
	// Status is Gerrit's status string: NEW, MERGED or ABANDONED. Anything
	// other than MERGED never approves a commit.
	Status    string    `json:"status"`
	Owner     Account   `json:"owner"`
	Submitter Account   `json:"submitter"` // zero unless merged by submit
	Submitted time.Time `json:"submitted"` // zero unless merged

	// CurrentRevision is the SHA of the newest patch set; for a change merged
	// by a rebasing submit it is the commit Gerrit wrote onto the branch.
	CurrentRevision string `json:"currentRevision"`
	// Revisions holds every patch set by commit SHA.
	Revisions map[string]Revision `json:"revisions"`

	// Labels holds every vote on every label, 0 placeholders included, keyed
	// by label name.
	Labels map[string][]Vote `json:"labels"`
	// LabelRanges holds the lowest and highest value of each label, where
	// Gerrit said.
	LabelRanges map[string]LabelRange `json:"labelRanges"`

	SubmitRequirements []SubmitRequirement `json:"submitRequirements"`
	Messages           []Message           `json:"messages"`
}

// LabelRange is the lowest and highest value a label has.
type LabelRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// Revision is one patch set of a change.
type Revision struct {
	SHA      string    `json:"sha"`
	Number   int       `json:"number"` // patch set number, from 1
	Uploader Account   `json:"uploader"`
	Created  time.Time `json:"created"`
	Kind     string    `json:"kind"` // Gerrit's change kind: REWORK, TRIVIAL_REBASE, NO_CODE_CHANGE, ...
	Parents  []string  `json:"parents"`
	// Author is the commit's git author (CommitInfo.author); empty when
	// Gerrit did not say.
	Author Person `json:"author"`
}

// Person is a git author or committer: a name and an email, not an
// account.
type Person struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Account identifies a Gerrit account. ID is the stable identity; the other
// fields are for people reading explanations.
type Account struct {
	ID       int    `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Email    string `json:"email"`
}

// Vote is one reviewer's value on one label.
type Vote struct {
	Account    Account   `json:"account"`
	Value      int       `json:"value"`
	Date       time.Time `json:"date"`
	PostSubmit bool      `json:"postSubmit"` // cast after the change was merged
	Tag        string    `json:"tag"`
}

// SubmitRequirement is one submit requirement result as Gerrit stored it.
type SubmitRequirement struct {
	Name     string `json:"name"`
	Status   string `json:"status"` // SATISFIED, UNSATISFIED, OVERRIDDEN, NOT_APPLICABLE, ERROR, FORCED, ...
	IsLegacy bool   `json:"isLegacy"`
}

// Message is one change message ("Patch Set 2: Code-Review+2").
type Message struct {
	ID     string  `json:"id"`
	Author Account `json:"author"`
	// RealAuthor is who posted the message when it was posted on behalf
	// of Author (Gerrit's real_author); zero otherwise.
	RealAuthor     Account   `json:"realAuthor"`
	Date           time.Time `json:"date"`
	Message        string    `json:"message"`
	RevisionNumber int       `json:"revisionNumber"`
	Tag            string    `json:"tag"`
}
