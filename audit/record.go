package audit

import (
	"bytes"
	"crypto/sha256"
	enchex "encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gerritgate/gerritgate/gate"
)

// Schema is the version of record.json this package writes. A reader
// refuses a record of a version it does not know.
const Schema = 1

// RecordFile is the name of the record in an audit commit's tree.
const RecordFile = "record.json"

// Kind says how deploy/<env> moved.
type Kind string

// Kinds of movement.
const (
	// Advance: the policy approved every commit that entered; Evidence
	// and Decision say why.
	Advance Kind = "advance"
	// Baseline: deploy/<env> was created at the baseline SHA the policy
	// file names; nothing was decided.
	Baseline Kind = "baseline"
	// Adopt: an operator named the commit without the policy's approval.
	Adopt Kind = "adopt"
	// Hold: an operator pinned deploy/<env> at its commit; it moves on
	// its own no further until a Release. From equals To: nothing moved.
	Hold Kind = "hold"
	// Release: an operator ended a Hold. From equals To.
	Release Kind = "release"
	// Override: an operator moved deploy/<env> once past its rules of
	// time and order or a missing approval (break-glass). It leaves a
	// Debt; with Rewind set it may move to a commit that does not
	// descend from From.
	Override Kind = "override"
	// Rewind: an operator moved deploy/<env> to a commit that does not
	// descend from From (upstream history was rewritten, or a rollback).
	Rewind Kind = "rewind"
	// Paid: every commit an Override let through is approved now; From
	// equals To, Evidence and Decision show the approvals, Debt names
	// the override.
	Paid Kind = "paid"
)

// Record is one movement of deploy/<env>, the content of record.json.
// docs/audit.md documents every field.
type Record struct {
	Schema      int       `json:"schema"`
	Kind        Kind      `json:"kind"`
	Project     string    `json:"project"`
	Branch      string    `json:"branch"`
	Environment string    `json:"environment"`
	From        string    `json:"from"` // "" when deploy/<env> did not exist
	To          string    `json:"to"`
	Time        time.Time `json:"time"`
	Service     string    `json:"serviceVersion"`
	Policy      Policy    `json:"policy"`
	// Commits summarises, for people, each commit that entered (Advance
	// only); it is derived from Evidence and Decision, and Recheck
	// derives it again.
	Commits []Commit `json:"commits,omitempty"`
	// Evidence is the exact input of gate.Evaluate for the commits that
	// entered (Advance only): Base is From, Head is To.
	Evidence *gate.Range `json:"evidence,omitempty"`
	// Decision is gate.Evaluate's output on Evidence (Advance only).
	Decision *gate.Decision `json:"decision,omitempty"`
	// Operator is who adopted, held, released, overrode or rewound, and
	// why (operator kinds only).
	Operator *Operator `json:"operator,omitempty"`
	// Rewind is set on an Override that may move to a commit not
	// descending from From (gerritgate override --rewind).
	Rewind bool `json:"rewind,omitempty"`
	// Debt is what an Override let through, and on a Paid record which
	// override it pays.
	Debt *Debt `json:"debt,omitempty"`
}

// Debt is what an override let through without the environment's rules:
// the commits reachable from its To and not from Base. Until the policy
// approves every one of them the environment advances no further on its
// own.
type Debt struct {
	Base    string   `json:"base"`              // deploy/<env> before the first unpaid override
	Commits []string `json:"commits,omitempty"` // Override: the commits let through, parents first
	// Override is, on a Paid record, the audit commit of the override
	// paid.
	Override string `json:"override,omitempty"`
}

func (d *Debt) owed() []string {
	if d == nil {
		return nil
	}
	return d.Commits
}

func (d *Debt) paid() string {
	if d == nil {
		return ""
	}
	return d.Override
}

// Policy is the policy in force: its name, the rules it resolved to (what
// Recheck decides with) and the SHA-256 of those rules as encoded here.
type Policy struct {
	Name   string       `json:"name"`
	SHA256 string       `json:"sha256"`
	Rules  *gate.Policy `json:"rules"`
	// Source is the policy file's commit in Gerrit when the policy is
	// reviewed there (policy: {project, branch, path}); absent for a
	// local file. SHA256 covers Rules only, so Recheck is unchanged.
	Source *gate.Source `json:"source,omitempty"`
}

// PolicyOf returns the Policy record of p.
func PolicyOf(p *gate.Policy) Policy {
	return Policy{Name: p.Name, SHA256: policyHash(p), Rules: p}
}

func policyHash(p *gate.Policy) string {
	b, _ := json.Marshal(p) // a gate.Policy always encodes
	sum := sha256.Sum256(b)
	return enchex.EncodeToString(sum[:])
}

// Operator is who adopted a commit, held, released, overrode or rewound
// an environment, and why.
type Operator struct {
	By     string `json:"by"`             // the OS user and host the command ran as
	Name   string `json:"name,omitempty"` // the name the operator gave (--operator)
	Reason string `json:"reason"`
	Ticket string `json:"ticket,omitempty"`
	// Expires is, on an Override, when its debt is due: after it an
	// unpaid debt is overdue (the environment stays blocked).
	Expires time.Time `json:"expires,omitzero"`
}

// Who is the operator for people: the given name and the OS user.
func (o *Operator) Who() string {
	if o == nil {
		return "(no operator named)"
	}
	if o.Name == "" {
		return oneLine(o.By)
	}
	return oneLine(o.Name) + " (" + oneLine(o.By) + ")"
}

// why is the reason with its ticket, for messages.
func (o *Operator) why() string {
	if o == nil {
		return ""
	}
	if o.Ticket == "" {
		return oneLine(o.Reason)
	}
	return oneLine(o.Reason) + " [" + oneLine(o.Ticket) + "]"
}

// Commit is one commit that entered, as people ask about it.
type Commit struct {
	SHA       string    `json:"sha"`
	Subject   string    `json:"subject"`
	Approved  bool      `json:"approved"`
	Change    int       `json:"change,omitempty"`
	PatchSet  int       `json:"patchSet,omitempty"`
	Revision  string    `json:"revision,omitempty"` // the reviewed patch set's SHA
	Owner     string    `json:"owner,omitempty"`
	Uploader  string    `json:"uploader,omitempty"`
	Submitter string    `json:"submitter,omitempty"`
	Submitted time.Time `json:"submitted,omitzero"`
}

// Summarize derives the Commits of an Advance record from its evidence
// and decision.
func Summarize(ev *gate.Range, dec *gate.Decision) []Commit {
	var out []Commit
	for _, c := range ev.Commits {
		sc := Commit{SHA: c.SHA, Subject: c.Subject}
		v, _ := dec.Verdict(c.SHA)
		sc.Approved, sc.Change = v.Approved, v.Change
		for _, ch := range ev.Changes[c.SHA] {
			if ch.Number != v.Change {
				continue
			}
			sc.Owner, sc.Submitter, sc.Submitted = ch.Owner.Display(), ch.Submitter.Display(), ch.Submitted.UTC()
			if ch.Submitter.ID == 0 {
				sc.Submitter = ""
			}
			if rev, ok := ch.Revisions[c.SHA]; ok {
				sc.PatchSet, sc.Revision, sc.Uploader = rev.Number, rev.SHA, rev.Uploader.Display()
			}
		}
		out = append(out, sc)
	}
	return out
}

// Entering returns the part of rng that moving to target brings in: the
// commits of rng target is or descends from, their changes and files, and
// Head set to target. Decisions on them do not depend on the rest.
func Entering(rng gate.Range, target string) gate.Range {
	byID := map[string]int{}
	for i, c := range rng.Commits {
		byID[c.SHA] = i
	}
	in := map[string]bool{}
	stack := []string{target}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i, ok := byID[s]
		if !ok || in[s] {
			continue
		}
		in[s] = true
		stack = append(stack, rng.Commits[i].Parents...)
	}
	out := rng
	out.Head = target
	out.Commits = nil
	out.Changes = map[string][]gate.Change{}
	if rng.Files != nil {
		out.Files = map[string][]string{}
	}
	for _, c := range rng.Commits {
		if !in[c.SHA] {
			continue
		}
		out.Commits = append(out.Commits, c)
		if ch, ok := rng.Changes[c.SHA]; ok {
			out.Changes[c.SHA] = ch
		}
		if f, ok := rng.Files[c.SHA]; ok {
			out.Files[c.SHA] = f
		}
	}
	return out
}

// Canonical returns r as a record stores it, through its JSON form (times
// in UTC without monotonic readings, say), so that a decision taken on it
// is exactly the one Recheck takes on the stored record.
func Canonical(r gate.Range) (gate.Range, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return r, err
	}
	var out gate.Range
	err = json.Unmarshal(b, &out)
	return out, err
}

// Encode returns record.json's content.
func (r *Record) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodeRecord parses record.json strictly: unknown fields and unknown
// schema versions are errors.
func DecodeRecord(data []byte) (*Record, error) {
	var probe struct {
		Schema int `json:"schema"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%s: %w", RecordFile, err)
	}
	if probe.Schema != Schema {
		return nil, fmt.Errorf("%s: schema %d, this gerritgate reads schema %d", RecordFile, probe.Schema, Schema)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", RecordFile, err)
	}
	return &r, nil
}

// Message is the audit commit's message: a summary for `git log`.
func (r *Record) Message() string {
	var b strings.Builder
	from := "(nothing)"
	if r.From != "" {
		from = shortSHA(r.From)
	}
	fmt.Fprintf(&b, "%s deploy/%s of %s: %s -> %s\n\n", r.Kind, r.Environment, r.Project, from, shortSHA(r.To))
	switch r.Kind {
	case Advance:
		fmt.Fprintf(&b, "Every commit that entered is approved by policy %s (sha256 %s):\n\n", r.Policy.Name, r.Policy.SHA256[:16])
		for _, c := range r.Commits {
			fmt.Fprintf(&b, "  %s %s", shortSHA(c.SHA), oneLine(c.Subject))
			if c.Change != 0 {
				fmt.Fprintf(&b, " (change %d, patch set %d, owner %s", c.Change, c.PatchSet, c.Owner)
				if c.Submitter != "" {
					fmt.Fprintf(&b, ", submitted by %s", c.Submitter)
				}
				b.WriteString(")")
			}
			b.WriteString("\n")
		}
	case Baseline:
		fmt.Fprintf(&b, "Created at the baseline the policy file names for %s (policy %s); nothing before it was decided.\n", r.Environment, r.Policy.Name)
	case Adopt:
		fmt.Fprintf(&b, "An operator named this commit; the policy did not approve it.\n\nBy: %s\nReason: %s\n", r.Operator.Who(), r.Operator.why())
	case Hold:
		fmt.Fprintf(&b, "An operator pinned deploy/%s at this commit until a release; nothing moved.\n\nBy: %s\nReason: %s\n", r.Environment, r.Operator.Who(), r.Operator.why())
	case Release:
		fmt.Fprintf(&b, "An operator released the hold on deploy/%s; nothing moved.\n\nBy: %s\nReason: %s\n", r.Environment, r.Operator.Who(), r.Operator.why())
	case Override:
		var due time.Time
		if r.Operator != nil {
			due = r.Operator.Expires
		}
		fmt.Fprintf(&b, "An operator moved deploy/%s past its rules once (break-glass); %d commits let through owe an approval.\n\nBy: %s\nReason: %s\nDue: %s\n",
			r.Environment, len(r.Debt.owed()), r.Operator.Who(), r.Operator.why(), due.UTC().Format(time.RFC3339))
	case Rewind:
		fmt.Fprintf(&b, "An operator moved deploy/%s to a commit that does not descend from the one deployed.\n\nBy: %s\nReason: %s\n", r.Environment, r.Operator.Who(), r.Operator.why())
	case Paid:
		fmt.Fprintf(&b, "Every commit override %s let through is approved now by policy %s; nothing moved.\n", shortSHA(r.Debt.paid()), r.Policy.Name)
	}
	fmt.Fprintf(&b, "\nTime: %s\nService: gerritgate %s\nRecord: %s (schema %d)\n", r.Time.UTC().Format(time.RFC3339), r.Service, RecordFile, r.Schema)
	return b.String()
}

// TagMessage is the message of the signed tag at To.
func (r *Record) TagMessage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deploy/%s of %s at %s (%s)\n\n", r.Environment, r.Project, r.To, r.Kind)
	switch r.Kind {
	case Advance:
		changes := map[int]bool{}
		for _, c := range r.Commits {
			if c.Change != 0 {
				changes[c.Change] = true
			}
		}
		nums := make([]int, 0, len(changes))
		for n := range changes {
			nums = append(nums, n)
		}
		sort.Ints(nums)
		fmt.Fprintf(&b, "Approved by policy %s (sha256 %s): %d commits entered", r.Policy.Name, r.Policy.SHA256[:16], len(r.Commits))
		if len(nums) > 0 {
			fmt.Fprintf(&b, ", changes %s", strings.Trim(fmt.Sprint(nums), "[]"))
		}
		b.WriteString(".\n")
	case Baseline:
		b.WriteString("Baseline named by the policy file.\n")
	case Adopt:
		fmt.Fprintf(&b, "Adopted by an operator without the policy's approval: %s (%s).\n", r.Operator.why(), r.Operator.Who())
	case Hold:
		fmt.Fprintf(&b, "Held here by an operator: %s (%s).\n", r.Operator.why(), r.Operator.Who())
	case Release:
		fmt.Fprintf(&b, "Released by an operator: %s (%s).\n", r.Operator.why(), r.Operator.Who())
	case Override:
		fmt.Fprintf(&b, "Overridden by an operator past the environment's rules: %s (%s).\n", r.Operator.why(), r.Operator.Who())
	case Rewind:
		fmt.Fprintf(&b, "Rewound by an operator: %s (%s).\n", r.Operator.why(), r.Operator.Who())
	case Paid:
		fmt.Fprintf(&b, "The debt of override %s is paid.\n", shortSHA(r.Debt.paid()))
	}
	fmt.Fprintf(&b, "Time: %s\nAudit: refs/heads/audit/%s\n", r.Time.UTC().Format(time.RFC3339), r.Environment)
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
