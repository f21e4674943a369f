package audit

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/gerritgate/gerritgate/internal/gitid"
)

// Repository is what Verify reads: objects and refs (a go-git
// repository's Storer).
type Repository interface {
	storer.EncodedObjectStorer
	storer.ReferenceStorer
}

// Options say what Verify checks.
type Options struct {
	// Keyring holds the service's public key. Without it signatures are
	// not checked and every record is reported unsigned-unchecked, which
	// is a problem: Verify fails closed.
	Keyring *Keyring
	// Recheck decides every Advance record again from its evidence.
	Recheck bool
	// Prefix is where the branches are: "refs/heads/" in a bare or
	// mirror clone, "refs/remotes/origin/" in a working clone.
	Prefix string
}

// Report is what Verify found. Problems is empty when the trail holds.
type Report struct {
	Environments []Environment `json:"environments"`
	Problems     []string      `json:"problems"`
}

// OK reports whether nothing is wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Environment is the trail of one deploy/<env>.
type Environment struct {
	Name     string  `json:"environment"`
	Deployed string  `json:"deployed"` // deploy/<env> tip, "" when missing
	Audit    string  `json:"audit"`    // audit/<env> tip, "" when missing
	Tag      string  `json:"tag,omitempty"`
	Timeline []Entry `json:"timeline"`
}

// Entry is one record of a timeline, oldest first.
type Entry struct {
	Commit    string    `json:"auditCommit"`
	Kind      Kind      `json:"kind"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Time      time.Time `json:"time"`
	Policy    string    `json:"policy,omitempty"`
	Changes   []int     `json:"changes,omitempty"`
	SignedBy  string    `json:"signedBy,omitempty"` // key fingerprint
	By        string    `json:"by,omitempty"`       // the operator of an operator's record
	Account   string    `json:"account,omitempty"`  // the OS account that acted, as the service saw it
	Ticket    string    `json:"ticket,omitempty"`   // the operator's ticket
	Rechecked bool      `json:"rechecked,omitempty"`
}

// Verify checks the audit trail of every environment in repo.
func Verify(repo Repository, opts Options) (*Report, error) {
	if opts.Prefix == "" {
		opts.Prefix = "refs/heads/"
	}
	envs := map[string]bool{}
	iter, err := repo.IterReferences()
	if err != nil {
		return nil, err
	}
	err = iter.ForEach(func(r *plumbing.Reference) error {
		name := r.Name().String()
		for _, p := range []string{opts.Prefix + "deploy/", opts.Prefix + "audit/"} {
			if env, ok := strings.CutPrefix(name, p); ok {
				envs[env] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(envs))
	for e := range envs {
		names = append(names, e)
	}
	sort.Strings(names)
	rep := &Report{Environments: []Environment{}, Problems: []string{}}
	if len(names) == 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("no %sdeploy/* or %saudit/* branch in the repository", opts.Prefix, opts.Prefix))
	}
	if opts.Keyring == nil {
		rep.Problems = append(rep.Problems, "signatures not checked: no public key given (--key)")
	}
	for _, env := range names {
		v := &verifier{repo: repo, opts: opts, env: env}
		rep.Environments = append(rep.Environments, v.run())
		rep.Problems = append(rep.Problems, v.problems...)
	}
	return rep, nil
}

type verifier struct {
	repo     Repository
	opts     Options
	env      string
	problems []string
	// deployed holds every commit reachable from deployedAt, the end of
	// the last record checked: the next record's base, when the trail
	// chains, so a long trail is walked once, not once per record.
	deployed   map[plumbing.Hash]bool
	deployedAt plumbing.Hash
	// entered holds the commits the current record's step brought in,
	// with their parents; nil when covers found the step wrong.
	entered map[string][]string
	// overrides are the override records seen so far, by audit commit:
	// what a paid record pays.
	overrides map[string]*Record
	// owed is the audit commit of the override that owes approvals at
	// the record being checked, "" when none does.
	owed string
}

func (v *verifier) fail(format string, args ...any) {
	v.problems = append(v.problems, v.env+": "+fmt.Sprintf(format, args...))
}

func (v *verifier) ref(name string) plumbing.Hash {
	r, err := v.repo.Reference(plumbing.ReferenceName(name))
	if err != nil {
		return plumbing.ZeroHash
	}
	if r.Type() == plumbing.SymbolicReference {
		return plumbing.ZeroHash
	}
	return r.Hash()
}

func (v *verifier) run() Environment {
	out := Environment{Name: v.env, Timeline: []Entry{}}
	tip := v.ref(v.opts.Prefix + "deploy/" + v.env)
	head := v.ref(v.opts.Prefix + "audit/" + v.env)
	out.Deployed, out.Audit = hexOf(tip), hexOf(head)
	switch {
	case tip.IsZero():
		v.fail("audit/%s exists but deploy/%s does not", v.env, v.env)
	case head.IsZero():
		v.fail("deploy/%s is at %s but there is no audit/%s: no record covers it", v.env, short(tip), v.env)
		return out
	}
	chain, err := Chain(v.repo, head)
	if err != nil {
		v.fail("%v", err)
		return out
	}
	prevTo := ""
	for i, c := range chain {
		e, rec := v.record(i+1, c)
		if rec == nil {
			return out
		}
		out.Timeline = append(out.Timeline, e)
		if rec.From != prevTo {
			if i == 0 {
				v.fail("audit %s: the first record starts from %s, not from nothing: earlier records are missing", short(c.Hash), shortSHA(rec.From))
			} else {
				v.fail("audit %s: record starts from %s but the previous record ended at %s: a record is missing or was rewritten", short(c.Hash), shortSHA(rec.From), shortSHA(prevTo))
			}
		}
		v.covers(c, rec)
		if v.opts.Recheck && (rec.Kind == Advance || rec.Kind == Paid) {
			if v.recheck(c, rec) {
				out.Timeline[len(out.Timeline)-1].Rechecked = true
			}
		}
		prevTo = rec.To
	}
	if !tip.IsZero() && prevTo != tip.String() {
		v.fail("deploy/%s is at %s but the last record (audit %s) ends at %s: a movement is not recorded", v.env, short(tip), short(head), shortSHA(prevTo))
	}
	out.Tag = v.tag(tip)
	return out
}

// record checks the signature of the n-th audit commit, c, and reads its
// record: nil when it cannot be read or names its commits other than by
// 40-hex ids (a record is data from the repository, not to be trusted).
func (v *verifier) record(n int, c *object.Commit) (Entry, *Record) {
	e := Entry{Commit: c.Hash.String()}
	if v.opts.Keyring != nil {
		payload := &plumbing.MemoryObject{}
		if err := c.EncodeWithoutSignature(payload); err != nil {
			v.fail("audit %s: %v", short(c.Hash), err)
			return e, nil
		}
		fp, err := v.opts.Keyring.check(content(payload), c.PGPSignature)
		if err != nil {
			v.fail("audit %s: %v (by the given key)", short(c.Hash), err)
		}
		e.SignedBy = fp
	}
	rec, err := ReadRecord(c)
	if err != nil {
		v.fail("audit %s: %v", short(c.Hash), err)
		return e, nil
	}
	for _, id := range []struct {
		name, value string
		optional    bool
	}{{"from", rec.From, true}, {"to", rec.To, false}} {
		if !gitid.IsSHA1(id.value) && (id.value != "" || !id.optional) {
			v.fail("record %d (audit %s): %s is not a 40-hex commit id: %q", n, short(c.Hash), id.name, clip(id.value))
			return e, nil
		}
	}
	e.Kind, e.From, e.To, e.Time, e.Policy = rec.Kind, rec.From, rec.To, rec.Time, rec.Policy.Name
	if rec.Operator != nil {
		e.By, e.Ticket, e.Account = rec.Operator.By, rec.Operator.Ticket, rec.Operator.Account.String()
	}
	seen := map[int]bool{}
	for _, cm := range rec.Commits {
		if cm.Change != 0 && !seen[cm.Change] {
			seen[cm.Change] = true
			e.Changes = append(e.Changes, cm.Change)
		}
	}
	if rec.Environment != v.env {
		v.fail("audit %s: the record is for environment %q", short(c.Hash), rec.Environment)
	}
	return e, rec
}

// covers checks that rec's step moves deploy/<env> forward, the gate's
// own rule: To is a commit and From one of its ancestors. From need not
// be on To's first-parent line: a merge may bring it in as a second
// parent. It keeps the commits the step brought in for recheck.
func (v *verifier) covers(c *object.Commit, rec *Record) {
	v.entered = nil
	if !v.operatorStep(c, rec) {
		return
	}
	if rec.Kind == Hold || rec.Kind == Release {
		// An operator's hold or release pins deploy/<env> where it is.
		if rec.To == "" || rec.From != rec.To || rec.Operator == nil {
			v.fail("audit %s: a %s record must stay at one commit and name its operator (from %s to %s)", short(c.Hash), rec.Kind, shortSHA(rec.From), shortSHA(rec.To))
		}
		return
	}
	if rec.To == "" || rec.To == rec.From {
		v.fail("audit %s: record moves nothing (from %s to %s)", short(c.Hash), shortSHA(rec.From), shortSHA(rec.To))
		return
	}
	to := plumbing.NewHash(rec.To)
	if _, err := object.GetCommit(v.repo, to); err != nil {
		v.fail("audit %s: the recorded commit %s is not in the repository", short(c.Hash), shortSHA(rec.To))
		return
	}
	if rec.Kind == Rewind || (rec.Kind == Override && rec.Rewind) {
		return // operatorStep checked what a non-forward move needs
	}
	var from plumbing.Hash
	if rec.From != "" {
		from = plumbing.NewHash(rec.From)
		if _, err := object.GetCommit(v.repo, from); err != nil {
			v.fail("audit %s: the recorded commit %s is not in the repository", short(c.Hash), shortSHA(rec.From))
			return
		}
	}
	entered, reaches, err := v.enter(from, to)
	switch {
	case err != nil:
		v.fail("audit %s: walking %s: %v", short(c.Hash), shortSHA(rec.To), err)
	case !reaches:
		v.fail("audit %s: %s is not an ancestor of %s: the step is not a fast-forward", short(c.Hash), shortSHA(rec.From), shortSHA(rec.To))
	default:
		v.entered = entered
	}
}

// enter returns the commits reachable from to and not from from (zero:
// every one), with their parents, and whether from is an ancestor of to.
// It keeps every commit reachable from to for the next record, which
// starts there in a trail that holds, so a long trail is walked once.
func (v *verifier) enter(from, to plumbing.Hash) (map[string][]string, bool, error) {
	if v.deployed == nil || v.deployedAt != from {
		v.deployed = map[plumbing.Hash]bool{}
		if !from.IsZero() {
			if err := walk(v.repo, from, nil, func(c *object.Commit) { v.deployed[c.Hash] = true }); err != nil {
				v.deployed = nil
				return nil, false, err
			}
		}
		v.deployedAt = from
	}
	// Every path from to down to from passes through commits that are not
	// from's ancestors, so the walk meets from as a parent of one of them.
	reaches := from.IsZero()
	entered := map[string][]string{}
	err := walk(v.repo, to, v.deployed, func(c *object.Commit) {
		ps := []string{}
		for _, p := range c.ParentHashes {
			ps = append(ps, p.String())
			reaches = reaches || p == from
		}
		entered[c.Hash.String()] = ps
	})
	if err != nil || !reaches {
		v.deployed = nil
		return nil, false, err
	}
	for sha := range entered {
		v.deployed[plumbing.NewHash(sha)] = true
	}
	v.deployedAt = to
	return entered, true, nil
}

func walk(st storer.EncodedObjectStorer, from plumbing.Hash, stop map[plumbing.Hash]bool, f func(*object.Commit)) error {
	seen := map[plumbing.Hash]bool{}
	stack := []plumbing.Hash{from}
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[h] || stop[h] {
			continue
		}
		seen[h] = true
		c, err := object.GetCommit(st, h)
		if err != nil {
			return fmt.Errorf("commit %s: %w", short(h), err)
		}
		f(c)
		stack = append(stack, c.ParentHashes...)
	}
	return nil
}

// tag checks the signed tag follows deploy/<env>.
func (v *verifier) tag(tip plumbing.Hash) string {
	h := v.ref(TagRef(v.env))
	if h.IsZero() {
		if v.opts.Keyring != nil && !tip.IsZero() {
			v.fail("no signed tag %s", TagRef(v.env))
		}
		return ""
	}
	t, err := object.GetTag(v.repo, h)
	if err != nil {
		v.fail("%s is not an annotated tag: %v", TagRef(v.env), err)
		return h.String()
	}
	if t.Target != tip {
		v.fail("%s points at %s, deploy/%s is at %s", TagRef(v.env), short(t.Target), v.env, short(tip))
	}
	if v.opts.Keyring != nil {
		payload := &plumbing.MemoryObject{}
		if err := t.EncodeWithoutSignature(payload); err != nil {
			v.fail("%s: %v", TagRef(v.env), err)
		} else if _, err := v.opts.Keyring.check(content(payload), t.PGPSignature); err != nil {
			v.fail("%s: %v (by the given key)", TagRef(v.env), err)
		}
	}
	return h.String()
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// clip bounds what a problem repeats of a hostile value.
func clip(s string) string {
	if len(s) > 48 {
		return s[:48] + "..."
	}
	return s
}

func hexOf(h plumbing.Hash) string {
	if h.IsZero() {
		return ""
	}
	return h.String()
}

func short(h plumbing.Hash) string { return h.String()[:12] }
