package deploy

import (
	"context"
	"time"

	"github.com/gerritgate/gerritgate/gate"
)

// Approvals looks up what Gerrit knows: the changes of commits and the
// members of groups. *gerrit.Client satisfies it.
type Approvals interface {
	ChangesForCommits(ctx context.Context, project, branch string, shas []string) (map[string][]gate.Change, error)
	GroupMembers(ctx context.Context, group string, recursive bool) ([]gate.Account, error)
}

// Target is one deploy/<Env> branch fed by an upstream branch.
type Target struct {
	Project string
	Branch  string
	Env     string
	Policy  *gate.Policy
	// PolicySource is where the policy file was read when it is
	// reviewed in Gerrit (nil: a local file); audit records keep it.
	PolicySource *gate.Source
	Baseline     string
	// AcceptFrom are other branches whose merged changes count
	// (gate.Repo.AcceptFrom).
	AcceptFrom []string
	// Notify are the Flux Receivers woken after each movement.
	Notify []gate.Receiver
	// After, Soak and Schedule are the environment's rules of order and
	// time (gate.Environment): it moves only to commits deploy/<After>
	// has contained for Soak, and only when Schedule does not hold it.
	After    string
	Soak     time.Duration
	Schedule gate.Schedule
}

// Ref is the served ref this target moves.
func (t Target) Ref() string { return "refs/heads/deploy/" + t.Env }

// BaselineRef records, in the served repository, where deploy/<Env> was
// first created. It is written with the deploy ref in one transaction and
// never moved; while it exists, a deploy ref that went missing (deleted by
// hand, say after a Diverged) is not created again at a new baseline,
// which would skip the gate. Clients never see it (hidden from upload-pack).
func (t Target) BaselineRef() string { return "refs/gerritgate/baseline/" + t.Env }

// Reason says, for programs and people alike, what a reconcile did.
type Reason string

// Reasons.
const (
	Advanced    Reason = "Advanced"    // the deploy ref moved forward
	Initialized Reason = "Initialized" // the deploy ref was created at its baseline
	UpToDate    Reason = "UpToDate"    // the deploy ref is at the upstream head
	NotApproved Reason = "NotApproved" // the next commit is not approved
	Diverged    Reason = "Diverged"    // upstream no longer contains the deployed commit
	NoUpstream  Reason = "NoUpstream"  // the upstream branch does not exist
	// AwaitingBaseline: deploy/<env> does not exist and the branch is not
	// approved from its root; it waits for an operator to name a commit.
	AwaitingBaseline Reason = "AwaitingBaseline"
	Adopted          Reason = "Adopted" // an operator named the commit deploy/<env> moved to
	Failed           Reason = "Failed"  // an error stopped the reconcile; To is where deploy/<env> is (moved before the error when not From)
	// Held: the environment's rules keep it where it is for now (outside
	// its windows, inside a freeze, or waiting for the environment it
	// comes after); Result.Until says until when, when known.
	Held       Reason = "Held"
	Deployable Reason = "Deployable" // explain only: everything up to the head is approved
	// Overridden: an operator moved deploy/<env> once past its rules
	// (gerritgate override); it leaves a debt.
	Overridden Reason = "Overridden"
	// InDebt: commits an override let through are not all approved yet;
	// the environment advances no further on its own (Result.Debt).
	InDebt Reason = "InDebt"
	// Rewound: an operator moved deploy/<env> to a commit that does not
	// descend from the deployed one (gerritgate rewind).
	Rewound Reason = "Rewound"
)

// Result is the outcome of one reconcile.
type Result struct {
	Project  string         `json:"project"`
	Branch   string         `json:"branch"`
	Env      string         `json:"environment"`
	Policy   string         `json:"policy"`
	Reason   Reason         `json:"reason"`
	Message  string         `json:"message"`
	From     string         `json:"from,omitempty"` // deploy ref before
	To       string         `json:"to,omitempty"`   // deploy ref after
	Head     string         `json:"head,omitempty"` // upstream branch head
	Decision *gate.Decision `json:"decision,omitempty"`
	Time     time.Time      `json:"time"`
	// Until is, for Held, when the environment may advance again; zero
	// when no end is known.
	Until time.Time `json:"until,omitzero"`
	// Debt is the unpaid debt of an override, nil when none.
	Debt *Debt `json:"debt,omitempty"`
}
