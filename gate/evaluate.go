package gate

import (
	"fmt"
	"sort"
	"strings"
)

// Commit is one upstream commit in the range being decided.
type Commit struct {
	SHA     string
	Parents []string
	Subject string
	// CleanMerge is set for a merge commit whose tree is exactly the
	// conflict-free merge of its parents (git merge-tree): it brings no
	// content of its own. False for every other commit.
	CleanMerge bool
}

// Range is everything Evaluate needs: the commits between the deployed tip
// (Base, excluded) and the upstream head, and Gerrit's changes for them.
type Range struct {
	Project string
	Branch  string
	Base    string
	Head    string
	// Commits are all commits reachable from Head and not from Base,
	// parents before children.
	Commits []Commit
	// Changes maps a commit SHA to the changes that have it as a patch set.
	Changes map[string][]Change
}

// Verdict is the decision on one commit.
type Verdict struct {
	SHA      string `json:"sha"`
	Subject  string `json:"subject"`
	Approved bool   `json:"approved"`
	// Change is the change that accounts for the commit, if any.
	Change int    `json:"change,omitempty"`
	Rules  []Rule `json:"rules"`
}

// Rule is one rule's outcome with its evidence.
type Rule struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
}

// Decision is the outcome for a whole range.
type Decision struct {
	// Target is the newest commit the deploy branch may move to: every
	// commit between Base and it is approved. Equal to Base when the first
	// commit after Base is not.
	Target string `json:"target"`
	// BlockedAt is the first commit on the way to Head that stops the
	// advance, "" when Target is Head.
	BlockedAt string    `json:"blockedAt,omitempty"`
	Verdicts  []Verdict `json:"verdicts"`
}

// Verdict returns the verdict on sha.
func (d Decision) Verdict(sha string) (Verdict, bool) {
	for _, v := range d.Verdicts {
		if v.SHA == sha {
			return v, true
		}
	}
	return Verdict{}, false
}

// Why explains in one line why the branch stops where it does.
func (d Decision) Why() string {
	if d.BlockedAt == "" {
		return "every commit is approved"
	}
	v, _ := d.Verdict(d.BlockedAt)
	var fails []string
	for _, r := range v.Rules {
		if !r.Pass {
			fails = append(fails, r.Detail)
		}
	}
	if len(fails) == 0 {
		fails = append(fails, "it brings in commits that are not approved")
	}
	return fmt.Sprintf("%s %q is not approved: %s", short(v.SHA), v.Subject, strings.Join(fails, "; "))
}

// Evaluate decides a range under policy p. It is pure.
func Evaluate(p *Policy, r Range) Decision {
	d := Decision{Target: r.Base}
	byID := map[string]int{}
	for i, c := range r.Commits {
		byID[c.SHA] = i
		d.Verdicts = append(d.Verdicts, EvaluateCommit(p, r.Project, r.Branch, c, r.Changes[c.SHA]))
	}
	// A commit can be deployed when it and everything it brings in is
	// approved, and it descends from Base (so the move is a fast-forward).
	ok := make([]bool, len(r.Commits))
	desc := make([]bool, len(r.Commits))
	for i, c := range r.Commits {
		ok[i] = d.Verdicts[i].Approved
		for _, par := range c.Parents {
			if par == r.Base {
				desc[i] = true
				continue
			}
			j, in := byID[par]
			if !in {
				continue // reachable from Base: already deployed
			}
			if j >= i {
				ok[i] = false // not parents-first: refuse rather than guess
				continue
			}
			ok[i] = ok[i] && ok[j]
			desc[i] = desc[i] || desc[j]
		}
	}
	// Walk the first-parent chain from Head back to Base, then forward.
	var chain []int
	for sha := r.Head; sha != r.Base; {
		i, in := byID[sha]
		if !in || len(chain) > len(r.Commits) {
			break
		}
		chain = append(chain, i)
		if len(r.Commits[i].Parents) == 0 {
			break
		}
		sha = r.Commits[i].Parents[0]
	}
	for k := len(chain) - 1; k >= 0; k-- {
		i := chain[k]
		if !desc[i] {
			continue
		}
		if !ok[i] {
			d.BlockedAt = firstUnapproved(r, d, byID, i)
			break
		}
		d.Target = r.Commits[i].SHA
	}
	if d.Target != r.Head && d.BlockedAt == "" && len(r.Commits) > 0 {
		d.BlockedAt = r.Head
	}
	return d
}

// firstUnapproved finds, among commit i and what it brings in, the oldest
// commit that is not approved: the one a person must act on.
func firstUnapproved(r Range, d Decision, byID map[string]int, i int) string {
	best := -1
	seen := map[int]bool{}
	var walk func(int)
	walk = func(k int) {
		if seen[k] {
			return
		}
		seen[k] = true
		if !d.Verdicts[k].Approved && (best == -1 || k < best) {
			best = k
		}
		for _, par := range r.Commits[k].Parents {
			if j, in := byID[par]; in && j < k {
				walk(j)
			}
		}
	}
	walk(i)
	if best == -1 {
		best = i
	}
	return r.Commits[best].SHA
}

// EvaluateCommit decides one commit from the changes Gerrit reports for it.
func EvaluateCommit(p *Policy, project, branch string, c Commit, changes []Change) Verdict {
	v := Verdict{SHA: c.SHA, Subject: c.Subject}
	var onBranch []Change
	for _, ch := range changes {
		if _, has := ch.Revisions[c.SHA]; has && ch.Project == project && ch.Branch == branch {
			onBranch = append(onBranch, ch)
		}
	}
	if len(onBranch) == 0 {
		if len(c.Parents) > 1 {
			return mergeVerdict(v, c)
		}
		detail := "no Gerrit change has this commit as a patch set: it was pushed directly"
		if len(changes) > 0 {
			detail = fmt.Sprintf("the only changes with this commit are on other projects or branches (change %d)", changes[0].Number)
		}
		v.Rules = []Rule{{Name: "provenance", Detail: detail}}
		return v
	}
	// Several changes can share a commit (rare); one that meets the policy
	// is enough, and the evidence shown is that of the first tried
	// otherwise.
	sort.Slice(onBranch, func(i, j int) bool { return onBranch[i].Number < onBranch[j].Number })
	var first Verdict
	for i, ch := range onBranch {
		cv := evaluateChange(p, c, ch)
		cv.SHA, cv.Subject = c.SHA, c.Subject
		if cv.Approved {
			return cv
		}
		if i == 0 {
			first = cv
		}
	}
	return first
}

func mergeVerdict(v Verdict, c Commit) Verdict {
	if len(c.Parents) != 2 {
		v.Rules = []Rule{{Name: "provenance", Detail: fmt.Sprintf("octopus merge with %d parents belongs to no change", len(c.Parents))}}
		return v
	}
	if !c.CleanMerge {
		v.Rules = []Rule{{Name: "provenance", Detail: "merge commit belongs to no change and its tree is not the clean merge of its parents: it carries content no reviewed change brought"}}
		return v
	}
	v.Approved = true
	v.Rules = []Rule{{Name: "provenance", Pass: true, Detail: "merge commit with no content of its own (tree is the clean merge of its parents); the commits it brings in are decided on their own"}}
	return v
}

func evaluateChange(p *Policy, c Commit, ch Change) Verdict {
	v := Verdict{Change: ch.Number}
	add := func(name string, pass bool, format string, args ...any) {
		v.Rules = append(v.Rules, Rule{Name: name, Pass: pass, Detail: fmt.Sprintf(format, args...)})
	}
	rev := ch.Revisions[c.SHA]
	switch {
	case ch.Status != "MERGED":
		add("merged", false, "change %d is %s, not MERGED", ch.Number, ch.Status)
	case ch.CurrentRevision != c.SHA:
		add("merged", false, "commit is patch set %d of change %d, but the change merged another patch set", rev.Number, ch.Number)
	case ch.Submitter.ID == 0:
		add("merged", false, "change %d was merged by a direct push, not submitted through review", ch.Number)
	default:
		add("merged", true, "merged revision (patch set %d) of change %d, submitted by %s", rev.Number, ch.Number, ch.Submitter.Display())
	}
	for _, label := range sortedKeys(p.Labels) {
		min := p.Labels[label].Min
		var best *Vote
		var others []string
		for i, vote := range ch.Labels[label] {
			if vote.Value >= min && best == nil {
				best = &ch.Labels[label][i]
			} else if vote.Value != 0 {
				others = append(others, fmt.Sprintf("%s %s", vote.Account.Display(), FormatValue(vote.Value)))
			}
		}
		if best != nil {
			add("label "+label, true, "%s %s by %s", label, FormatValue(best.Value), best.Account.Display())
		} else {
			seen := "no votes"
			if len(others) > 0 {
				seen = "votes: " + strings.Join(others, ", ")
			}
			add("label "+label, false, "needs %s %s or more; %s", label, FormatValue(min), seen)
		}
	}
	for _, label := range sortedKeys(p.Vetoes) {
		limit := p.Vetoes[label]
		var vetoes []string
		for _, vote := range ch.Labels[label] {
			if vote.Value <= limit {
				s := fmt.Sprintf("%s %s by %s", label, FormatValue(vote.Value), vote.Account.Display())
				if vote.PostSubmit {
					s += " (after submit)"
				}
				vetoes = append(vetoes, s)
			}
		}
		if len(vetoes) > 0 {
			add("veto "+label, false, "vetoed: %s", strings.Join(vetoes, ", "))
		} else {
			add("veto "+label, true, "no %s vote at %s or below", label, FormatValue(limit))
		}
	}
	v.Approved = true
	for _, r := range v.Rules {
		v.Approved = v.Approved && r.Pass
	}
	return v
}

// Display names an account for people.
func (a Account) Display() string {
	switch {
	case a.Username != "":
		return a.Username
	case a.Name != "":
		return a.Name
	case a.Email != "":
		return a.Email
	default:
		return fmt.Sprintf("account %d", a.ID)
	}
}

// FormatValue writes a vote the way Gerrit shows it: +2, 0, -1.
func FormatValue(v int) string {
	if v > 0 {
		return fmt.Sprintf("+%d", v)
	}
	return fmt.Sprint(v)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
