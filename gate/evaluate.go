package gate

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// OtherProject is the Project of a Change that stands for a change of
// another Gerrit project, named by nobody (see mirror/gerrit).
const OtherProject = "(another project)"

// Commit is one upstream commit in the range being decided.
type Commit struct {
	SHA     string   `json:"sha"`
	Parents []string `json:"parents"`
	Subject string   `json:"subject"`
	// CleanMerge is set for a merge commit whose tree is exactly the
	// conflict-free merge of its parents (git merge-tree): it brings no
	// content of its own. False for every other commit.
	CleanMerge bool `json:"cleanMerge"`
	// MergeCheck says why CleanMerge could not be decided (e.g. git
	// refuses to merge unrelated histories); "" when it was.
	MergeCheck string `json:"mergeCheck"`
	// EmptyRoot is set for a commit with no parent and the empty tree,
	// like the one Gerrit creates a project with: it deploys nothing.
	EmptyRoot bool `json:"emptyRoot"`
}

// Range is everything Evaluate needs: the commits between the deployed tip
// (Base, excluded) and the upstream head, and Gerrit's changes for them.
type Range struct {
	Project string `json:"project"`
	Branch  string `json:"branch"`
	// Base is the deployed commit, "" when nothing is deployed yet: then
	// the commits are decided from their roots.
	Base string `json:"base"`
	Head string `json:"head"`
	// AcceptFrom are other branches of Project whose merged changes count
	// for a commit, judged by the same policy (Repo.AcceptFrom).
	AcceptFrom []string `json:"acceptFrom"`
	// Commits are all commits reachable from Head and not from Base,
	// parents before children.
	Commits []Commit `json:"commits"`
	// Changes maps a commit SHA to the changes that have it as a patch set.
	Changes map[string][]Change `json:"changes"`
	// Files maps a commit SHA to the paths it changes against its first
	// parent (against the empty tree for a root commit); a rename or copy
	// lists both paths. Needed when the policy has Owners: a commit absent
	// here fails them. An empty list means the commit changes no file.
	Files map[string][]string `json:"files"`
	// Groups maps each group the policy names (Policy.GroupNames) to its
	// members, included groups resolved recursively. A group absent here
	// could not be resolved and fails every owners entry that needs it; an
	// empty list is a group without members.
	Groups map[string][]Account `json:"groups"`
	// GroupErrors says, for a group absent from Groups, why it could not
	// be resolved (shown in the owners rule's evidence).
	GroupErrors map[string]string `json:"groupErrors"`
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
	// Remaining counts the commits of the range that moving to Target
	// leaves undeployed.
	Remaining int `json:"remaining"`
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
		d.Verdicts = append(d.Verdicts, evaluateCommit(p, &r, c))
	}
	// A commit can be deployed when it and everything it brings in is
	// approved, and it descends from Base (so the move is a fast-forward).
	ok := make([]bool, len(r.Commits))
	desc := make([]bool, len(r.Commits))
	for i, c := range r.Commits {
		ok[i] = d.Verdicts[i].Approved
		if len(c.Parents) == 0 && r.Base == "" {
			desc[i] = true // nothing deployed yet: decided from the root
		}
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
	d.Remaining = len(r.Commits) - reachableIn(r, byID, d.Target)
	return d
}

// reachableIn counts the commits of the range that sha is or descends
// from.
func reachableIn(r Range, byID map[string]int, sha string) int {
	seen := map[int]bool{}
	stack := []string{sha}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i, in := byID[s]
		if !in || seen[i] {
			continue
		}
		seen[i] = true
		stack = append(stack, r.Commits[i].Parents...)
	}
	return len(seen)
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
// It knows no changed files and no groups: under a policy with Owners the
// commit is not approved. Evaluate decides with everything in its Range.
func EvaluateCommit(p *Policy, project, branch string, c Commit, changes []Change) Verdict {
	return evaluateCommit(p, &Range{Project: project, Branch: branch, Changes: map[string][]Change{c.SHA: changes}}, c)
}

func evaluateCommit(p *Policy, r *Range, c Commit) Verdict {
	return vetoedElsewhere(p, r, c, accountFor(p, r, c))
}

// vetoedElsewhere adds to v a failing rule for every veto that another
// change of the project holding the commit as a patch set carries, on any
// branch and in any status: a cherry-pick with the identical commit, the
// same commit uploaded for another branch, a second change on this one. A
// veto on any of them stands against the commit, whichever change accounts
// for it. Only failing rules are added: they name the change.
func vetoedElsewhere(p *Policy, r *Range, c Commit, v Verdict) Verdict {
	var others []Change
	for _, ch := range r.Changes[c.SHA] {
		if _, has := ch.Revisions[c.SHA]; has && ch.Project == r.Project && ch.Number != v.Change {
			others = append(others, ch)
		}
	}
	sort.Slice(others, func(i, j int) bool { return others[i].Number < others[j].Number })
	for _, ch := range others {
		rv := newReview(p, ch, c.SHA)
		for _, label := range sortedKeys(p.Vetoes) {
			vr := vetoRule(rv, label, p.Vetoes[label])
			if vr.Pass {
				continue
			}
			vr.Detail = fmt.Sprintf("change %d (branch %s, %s), which also has this commit as patch set %d: %s", ch.Number, ch.Branch, ch.Status, rv.merged, vr.Detail)
			v.Rules = append(v.Rules, vr)
			v.Approved = false
		}
	}
	return v
}

// accountFor decides a commit by the changes of the branch (and of the
// branches it accepts from) that have it as a patch set.
func accountFor(p *Policy, r *Range, c Commit) Verdict {
	v := Verdict{SHA: c.SHA, Subject: c.Subject}
	changes := r.Changes[c.SHA]
	var onBranch []Change
	for _, ch := range changes {
		if _, has := ch.Revisions[c.SHA]; has && ch.Project == r.Project && (ch.Branch == r.Branch || slices.Contains(r.AcceptFrom, ch.Branch)) {
			onBranch = append(onBranch, ch)
		}
	}
	if len(onBranch) == 0 {
		if c.EmptyRoot && len(c.Parents) == 0 {
			v.Approved = true
			v.Rules = []Rule{{Name: "provenance", Pass: true, Detail: "a root commit with the empty tree (Gerrit's initial commit): it deploys nothing"}}
			return v
		}
		if len(c.Parents) > 1 {
			return mergeVerdict(v, c)
		}
		detail := "no Gerrit change has this commit as a patch set: it was pushed directly"
		if len(changes) > 0 {
			ch := changes[0]
			if ch.Project == r.Project {
				detail = fmt.Sprintf("the commit belongs to change %d on branch %s of %s, not to a change of %s: a change reviewed for another branch counts only from a branch the repo entry lists under acceptFrom", ch.Number, ch.Branch, ch.Project, r.Branch)
			} else {
				detail = fmt.Sprintf("the commit belongs to a change of another Gerrit project (not named here: readers of %s may not read it), and to no change of %s: it reached %s without review there", r.Project, r.Project, r.Branch)
			}
		}
		v.Rules = []Rule{{Name: "provenance", Detail: detail}}
		return v
	}
	// Several changes can share a commit (rare); one that meets the policy
	// is enough (vetoedElsewhere then checks the vetoes of the others), and
	// the evidence shown is that of the first tried otherwise.
	sort.Slice(onBranch, func(i, j int) bool { return onBranch[i].Number < onBranch[j].Number })
	var first Verdict
	for i, ch := range onBranch {
		cv := evaluateChange(p, r, c, ch)
		cv.SHA, cv.Subject = c.SHA, c.Subject
		if ch.Branch != r.Branch {
			cv.Rules = append([]Rule{{Name: "provenance", Pass: true, Detail: fmt.Sprintf("change %d of branch %s, which %s accepts (acceptFrom), judged by this policy", ch.Number, ch.Branch, r.Branch)}}, cv.Rules...)
		}
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
	if c.MergeCheck != "" {
		v.Rules = []Rule{{Name: "provenance", Detail: "merge commit belongs to no change and could not be checked for content of its own: " + c.MergeCheck}}
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

func evaluateChange(p *Policy, r *Range, c Commit, ch Change) Verdict {
	v := Verdict{Change: ch.Number}
	v.Rules = append(v.Rules, mergedRule(c, ch))
	rv := newReview(p, ch, c.SHA)
	for _, label := range sortedKeys(p.Labels) {
		v.Rules = append(v.Rules, labelRule(rv, label, p.Labels[label].Min))
	}
	for _, label := range sortedKeys(p.Vetoes) {
		v.Rules = append(v.Rules, vetoRule(rv, label, p.Vetoes[label]))
	}
	if p.SubmitRequirements.Set() {
		v.Rules = append(v.Rules, requirementsRule(p, ch))
	}
	if p.Approvers > 0 {
		v.Rules = append(v.Rules, approversRule(rv, p.Labels[ReviewLabel].Min, p.Approvers))
	}
	if len(p.Owners) > 0 {
		files, known := r.Files[c.SHA]
		v.Rules = append(v.Rules, ownersRule(p, rv, files, known, r.Groups, r.GroupErrors))
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

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
