package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/storage"
)

// Approvals looks up what Gerrit knows: the changes of commits and the
// members of groups. *gerrit.Client satisfies it.
type Approvals interface {
	ChangesForCommits(ctx context.Context, project, branch string, shas []string) (map[string][]gate.Change, error)
	GroupMembers(ctx context.Context, group string, recursive bool) ([]gate.Account, error)
}

// Target is one deploy/<Env> branch fed by an upstream branch.
type Target struct {
	Project  string
	Branch   string
	Env      string
	Policy   *gate.Policy
	Baseline string
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
	Failed      Reason = "Failed"      // an error stopped the reconcile; nothing moved
	Deployable  Reason = "Deployable"  // explain only: everything up to the head is approved
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
}

// Deployer reconciles targets.
type Deployer struct {
	store     *storage.Store
	approvals Approvals
	logger    *slog.Logger
	gitPath   string
	maxRange  int

	mu        sync.Mutex
	ancestors map[string]map[plumbing.Hash]bool // project+base -> ancestors of base
}

// Option configures a Deployer.
type Option func(*Deployer)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(d *Deployer) { d.logger = l } }

// WithMaxRange bounds how many pending commits one reconcile decides
// (default 5000); a longer range is refused, not truncated.
func WithMaxRange(n int) Option { return func(d *Deployer) { d.maxRange = n } }

// New returns a Deployer.
func New(store *storage.Store, approvals Approvals, opts ...Option) *Deployer {
	d := &Deployer{
		store: store, approvals: approvals,
		logger:    slog.New(slog.DiscardHandler),
		gitPath:   "git",
		maxRange:  5000,
		ancestors: map[string]map[plumbing.Hash]bool{},
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Reconcile brings one target as far forward as the policy allows.
func (d *Deployer) Reconcile(ctx context.Context, t Target) Result {
	res := Result{Project: t.Project, Branch: t.Branch, Env: t.Env, Time: time.Now().UTC()}
	if t.Policy != nil {
		res.Policy = t.Policy.Name
	}
	err := d.reconcile(ctx, t, &res)
	if err != nil {
		res.Reason = Failed
		res.Message = err.Error()
		res.To = res.From
	}
	log := d.logger.With("project", t.Project, "branch", t.Branch, "env", t.Env, "reason", res.Reason)
	switch res.Reason {
	case Advanced, Initialized:
		log.Info(res.Message, "from", res.From, "to", res.To)
	case Failed, Diverged:
		log.Warn(res.Message)
	default:
		log.Debug(res.Message)
	}
	return res
}

func (d *Deployer) reconcile(ctx context.Context, t Target, res *Result) error {
	if t.Policy == nil {
		return errors.New("no policy")
	}
	up, err := d.store.Upstream(t.Project)
	if err != nil {
		return err
	}
	served, err := d.store.Served(t.Project)
	if err != nil {
		return err
	}
	head, err := up.Ref("refs/heads/" + t.Branch)
	if err != nil {
		return err
	}
	tip, err := served.Ref(t.Ref())
	if err != nil {
		return err
	}
	res.From, res.To = hex(tip), hex(tip)
	if head.IsZero() {
		res.Reason, res.Message = NoUpstream, fmt.Sprintf("upstream branch %s does not exist (yet)", t.Branch)
		return nil
	}
	res.Head = head.String()

	if tip.IsZero() {
		return d.initialize(ctx, t, up, served, head, res)
	}
	if tip == head {
		res.Reason, res.Message = UpToDate, "deployed commit is the upstream head"
		return nil
	}

	dec, diverged, err := d.decide(ctx, t, up, tip, head)
	if err != nil {
		return err
	}
	if diverged {
		res.Reason = Diverged
		res.Message = fmt.Sprintf("upstream %s at %s no longer contains the deployed commit %s: history was rewritten; nothing is deployed until an operator decides", t.Branch, short(head), short(tip))
		return nil
	}
	res.Decision = dec
	if dec.Target == tip.String() {
		res.Reason, res.Message = NotApproved, dec.Why()
		return nil
	}
	target := plumbing.NewHash(dec.Target)
	if err := d.advance(ctx, t, up, served, tip, target); err != nil {
		return err
	}
	res.Reason, res.To = Advanced, target.String()
	res.Message = fmt.Sprintf("advanced deploy/%s from %s to %s", t.Env, short(tip), short(target))
	if dec.BlockedAt != "" {
		res.Message += "; stopped before " + dec.Why()
	}
	return nil
}

// decide evaluates the commits between base and head. diverged is true
// when head does not descend from base.
func (d *Deployer) decide(ctx context.Context, t Target, up *storage.Repo, base, head plumbing.Hash) (dec *gate.Decision, diverged bool, err error) {
	commits, reachesBase, err := d.pending(t.Project, up, base, head)
	if err != nil {
		return nil, false, err
	}
	if !reachesBase {
		return nil, true, nil
	}
	shas := make([]string, len(commits))
	for i, c := range commits {
		shas[i] = c.SHA
	}
	changes, err := d.approvals.ChangesForCommits(ctx, t.Project, t.Branch, shas)
	if err != nil {
		return nil, false, fmt.Errorf("ask Gerrit about %d pending commits: %w", len(shas), err)
	}
	rng := gate.Range{
		Project: t.Project, Branch: t.Branch,
		Base: base.String(), Head: head.String(),
		Commits: commits, Changes: changes,
	}
	if len(t.Policy.Owners) > 0 {
		if rng.Files, err = changedFiles(up, commits); err != nil {
			return nil, false, err
		}
		rng.Groups = d.groups(ctx, t)
	}
	out := gate.Evaluate(t.Policy, rng)
	return &out, false, nil
}

// groups resolves the members of every group the policy names. A group
// that cannot be resolved is left out, which fails the owner rules that
// need it (with that said in their evidence), never passes them.
func (d *Deployer) groups(ctx context.Context, t Target) map[string][]gate.Account {
	out := map[string][]gate.Account{}
	for _, name := range t.Policy.GroupNames() {
		members, err := d.approvals.GroupMembers(ctx, name, true)
		if err != nil {
			d.logger.Warn("cannot resolve group; owner rules needing it fail", "group", name, "project", t.Project, "err", err)
			continue
		}
		out[name] = members
	}
	return out
}

// changedFiles lists, for each commit, the paths it changes against its
// first parent (all paths for a root commit); both sides of a rename.
func changedFiles(up *storage.Repo, commits []gate.Commit) (map[string][]string, error) {
	out := make(map[string][]string, len(commits))
	for _, gc := range commits {
		c, err := object.GetCommit(up.Git.Storer, plumbing.NewHash(gc.SHA))
		if err != nil {
			return nil, err
		}
		tree, err := c.Tree()
		if err != nil {
			return nil, err
		}
		var parentTree *object.Tree
		if len(c.ParentHashes) > 0 {
			p, err := object.GetCommit(up.Git.Storer, c.ParentHashes[0])
			if err != nil {
				return nil, err
			}
			if parentTree, err = p.Tree(); err != nil {
				return nil, err
			}
		}
		changes, err := object.DiffTree(parentTree, tree)
		if err != nil {
			return nil, fmt.Errorf("diff %s: %w", short(c.Hash), err)
		}
		seen := map[string]bool{}
		files := []string{}
		for _, ch := range changes {
			for _, name := range []string{ch.From.Name, ch.To.Name} {
				if name != "" && !seen[name] {
					seen[name] = true
					files = append(files, name)
				}
			}
		}
		out[gc.SHA] = files
	}
	return out, nil
}

// Explain decides without moving anything, for people asking why: the
// commits pending for deploy/<env> (last == 0), or the last commits on the
// upstream branch's first-parent line (last > 0), for previewing a policy
// edit against history that is already deployed.
func (d *Deployer) Explain(ctx context.Context, t Target, last int) (Result, error) {
	res := Result{Project: t.Project, Branch: t.Branch, Env: t.Env, Time: time.Now().UTC()}
	if t.Policy == nil {
		return res, errors.New("no policy")
	}
	res.Policy = t.Policy.Name
	up, err := d.store.ExistingUpstream(t.Project)
	if err != nil {
		return res, fmt.Errorf("upstream mirror of %s: %w", t.Project, err)
	}
	head, err := up.Ref("refs/heads/" + t.Branch)
	if err != nil {
		return res, err
	}
	if head.IsZero() {
		return res, fmt.Errorf("upstream branch %s of %s does not exist in the mirror", t.Branch, t.Project)
	}
	res.Head = head.String()
	tip := plumbing.ZeroHash
	if served, err := d.store.ExistingServed(t.Project); err == nil {
		if tip, err = served.Ref(t.Ref()); err != nil {
			return res, err
		}
	}
	res.From, res.To = hex(tip), hex(tip)
	base := tip
	if last > 0 || tip.IsZero() {
		if last <= 0 {
			last = 20
		}
		if base, err = firstParentAncestor(up, head, last); err != nil {
			return res, err
		}
	}
	if base == head {
		res.Reason, res.Message = UpToDate, "deployed commit is the upstream head"
		return res, nil
	}
	dec, diverged, err := d.decide(ctx, t, up, base, head)
	if err != nil {
		return res, err
	}
	if diverged {
		res.Reason, res.Message = Diverged, fmt.Sprintf("upstream %s no longer contains the deployed commit %s", t.Branch, short(tip))
		return res, nil
	}
	res.Decision = dec
	if dec.Target == head.String() {
		res.Reason, res.Message = Deployable, "every commit up to the upstream head is approved"
	} else {
		res.Reason, res.Message = NotApproved, dec.Why()
	}
	return res, nil
}

// firstParentAncestor walks n steps down the first-parent line from head,
// stopping at a root commit.
func firstParentAncestor(up *storage.Repo, head plumbing.Hash, n int) (plumbing.Hash, error) {
	h := head
	for i := 0; i < n; i++ {
		c, err := object.GetCommit(up.Git.Storer, h)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if len(c.ParentHashes) == 0 {
			return h, nil
		}
		h = c.ParentHashes[0]
	}
	return h, nil
}

func (d *Deployer) initialize(ctx context.Context, t Target, up, served *storage.Repo, head plumbing.Hash, res *Result) error {
	if was, err := served.Ref(t.BaselineRef()); err != nil {
		return err
	} else if !was.IsZero() {
		return fmt.Errorf("deploy/%s is missing but was created before (baseline %s): refusing to start it again at a new baseline, which would skip the gate; restore the ref, or delete %s from the served repository to start over", t.Env, short(was), t.BaselineRef())
	}
	start := head
	if t.Baseline != gate.BaselineUpstream {
		start = plumbing.NewHash(t.Baseline)
		c, err := object.GetCommit(up.Git.Storer, start)
		if err != nil {
			return fmt.Errorf("baseline %s: not a commit of %s: %w", t.Baseline, t.Project, err)
		}
		hc, err := object.GetCommit(up.Git.Storer, head)
		if err != nil {
			return err
		}
		if ok, err := c.IsAncestor(hc); err != nil || !ok {
			return fmt.Errorf("baseline %s is not on upstream branch %s", short(start), t.Branch)
		}
	}
	if err := d.advance(ctx, t, up, served, plumbing.ZeroHash, start,
		storage.RefUpdate{Name: t.BaselineRef(), New: start}); err != nil {
		return err
	}
	res.Reason, res.To = Initialized, start.String()
	res.Message = fmt.Sprintf("created deploy/%s at baseline %s (%s)", t.Env, short(start), t.Baseline)
	return nil
}

// advance copies the objects of target into the served repository and
// moves the deploy ref from old to target by compare-and-swap, in one
// transaction with any other updates given.
func (d *Deployer) advance(ctx context.Context, t Target, up, served *storage.Repo, old, target plumbing.Hash, also ...storage.RefUpdate) error {
	if err := storage.CopyObjects(ctx, served, up, target); err != nil {
		return fmt.Errorf("copy objects: %w", err)
	}
	updates := append([]storage.RefUpdate{{Name: t.Ref(), Old: old, New: target}}, also...)
	if err := served.UpdateRefs(updates...); err != nil {
		return err
	}
	headRef, err := served.Head()
	if err != nil {
		return err
	}
	if h, _ := served.Ref(headRef); h.IsZero() {
		return served.SetHead(t.Ref())
	}
	return nil
}

// pending returns the commits reachable from head and not from base,
// parents first, and whether head descends from base at all.
func (d *Deployer) pending(project string, up *storage.Repo, base, head plumbing.Hash) ([]gate.Commit, bool, error) {
	anc, err := d.ancestorsOf(project, up, base)
	if err != nil {
		return nil, false, err
	}
	var out []gate.Commit
	reaches := false
	type frame struct {
		c        *object.Commit
		expanded bool
	}
	// A commit is done once emitted; it may sit on the stack more than once
	// until then (reached by several children), and is emitted only after
	// all its parents, whatever order the paths reach it in.
	done := map[plumbing.Hash]bool{}
	hc, err := object.GetCommit(up.Git.Storer, head)
	if err != nil {
		return nil, false, err
	}
	stack := []frame{{c: hc}}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if done[top.c.Hash] {
			stack = stack[:len(stack)-1]
			continue
		}
		if !top.expanded {
			top.expanded = true
			// Push parents in reverse so the first parent's history comes
			// out first.
			for i := len(top.c.ParentHashes) - 1; i >= 0; i-- {
				p := top.c.ParentHashes[i]
				if p == base {
					reaches = true
				}
				if p == base || anc[p] || done[p] {
					continue
				}
				pc, err := object.GetCommit(up.Git.Storer, p)
				if err != nil {
					return nil, false, fmt.Errorf("commit %s: %w", p, err)
				}
				stack = append(stack, frame{c: pc})
			}
			continue
		}
		if !parentsDone(top.c, base, anc, done) {
			// A parent was reached first through this commit's own
			// ancestry and is still below on the stack: expand again.
			top.expanded = false
			continue
		}
		done[top.c.Hash] = true
		c := top.c
		stack = stack[:len(stack)-1]
		gc := gate.Commit{SHA: c.Hash.String(), Subject: subject(c.Message)}
		for _, p := range c.ParentHashes {
			gc.Parents = append(gc.Parents, p.String())
		}
		if len(c.ParentHashes) == 2 {
			// An error is about this merge only: it stays unapproved
			// (unless a change accounts for it) with the error as its
			// evidence, and the commits before it are still decided.
			var merr error
			if gc.CleanMerge, merr = d.cleanMerge(up.Path, c); merr != nil {
				gc.MergeCheck = merr.Error()
			}
		}
		out = append(out, gc)
		if len(out) > d.maxRange {
			return nil, false, fmt.Errorf("more than %d commits pending between %s and %s: refusing to decide so large a range at once", d.maxRange, short(base), short(head))
		}
	}
	return out, reaches, nil
}

func parentsDone(c *object.Commit, base plumbing.Hash, anc, done map[plumbing.Hash]bool) bool {
	for _, p := range c.ParentHashes {
		if p != base && !anc[p] && !done[p] {
			return false
		}
	}
	return true
}

// ancestorsOf returns every ancestor of base, cached per base: the deploy
// ref moves rarely and a walk of the whole history is then done once.
func (d *Deployer) ancestorsOf(project string, up *storage.Repo, base plumbing.Hash) (map[plumbing.Hash]bool, error) {
	key := project + "\x00" + base.String()
	d.mu.Lock()
	anc, ok := d.ancestors[key]
	d.mu.Unlock()
	if ok {
		return anc, nil
	}
	anc = map[plumbing.Hash]bool{base: true}
	queue := []plumbing.Hash{base}
	for len(queue) > 0 {
		h := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		c, err := object.GetCommit(up.Git.Storer, h)
		if err != nil {
			return nil, fmt.Errorf("deployed commit %s is not in the upstream mirror: %w", short(h), err)
		}
		for _, p := range c.ParentHashes {
			if !anc[p] {
				anc[p] = true
				queue = append(queue, p)
			}
		}
	}
	d.mu.Lock()
	for k := range d.ancestors {
		if strings.HasPrefix(k, project+"\x00") {
			delete(d.ancestors, k)
		}
	}
	d.ancestors[key] = anc
	d.mu.Unlock()
	return anc, nil
}

// cleanMerge reports whether a two-parent commit's tree is exactly what
// merging its parents without conflicts gives, using C git (go-git has no
// merge). A merge carrying anything else has content of its own that no
// change brought.
//
// Gerrit merges with JGit, which detects no renames, so a merge Gerrit made
// cleanly can be a conflict for merge-tree's rename-aware ort (one side
// deletes a file the other moves; one renames a directory the other adds
// to), or come out differently. The tree is accepted when it equals either
// ort's merge or a rename-blind three-way merge: both hold content of the
// parents only.
func (d *Deployer) cleanMerge(repoDir string, c *object.Commit) (bool, error) {
	p1, p2 := c.ParentHashes[0].String(), c.ParentHashes[1].String()
	out, code, err := d.git(repoDir, nil, "", "merge-tree", "--write-tree", "--no-messages", p1, p2)
	if err != nil {
		return false, fmt.Errorf("git merge-tree for %s: %w", short(c.Hash), err)
	}
	if code == 0 && firstLine(out) == c.TreeHash.String() {
		return true, nil
	}
	tree, err := d.renameBlindMerge(repoDir, p1, p2)
	if err != nil {
		return false, fmt.Errorf("rename-blind merge for %s: %w", short(c.Hash), err)
	}
	return tree == c.TreeHash.String(), nil
}

// renameBlindMerge merges ours and theirs path by path, as JGit does:
// read-tree's three-way merge in a scratch index, then a line merge of the
// files both sides changed. It returns "" when the merge has conflicts or
// the parents have no single merge base.
func (d *Deployer) renameBlindMerge(repoDir, ours, theirs string) (string, error) {
	bases, code, err := d.git(repoDir, nil, "", "merge-base", "--all", ours, theirs)
	if err != nil || code != 0 {
		return "", err
	}
	base := strings.Fields(bases)
	if len(base) != 1 {
		return "", nil // criss-cross or unrelated: not this simple case
	}
	tmp, err := os.MkdirTemp("", "gerritgate-merge-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	index := []string{"GIT_INDEX_FILE=" + tmp + "/index"}
	if _, code, err := d.git(repoDir, index, "", "read-tree", "-i", "-m", "--aggressive", base[0], ours, theirs); err != nil || code != 0 {
		return "", fmt.Errorf("read-tree: exit %d: %v", code, err)
	}
	unmerged, _, err := d.git(repoDir, index, "", "ls-files", "-u", "-z")
	if err != nil {
		return "", err
	}
	// path -> stage -> "mode sha"
	stages := map[string]map[string][2]string{}
	for _, rec := range strings.Split(unmerged, "\x00") {
		meta, path, ok := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 {
			continue
		}
		if stages[path] == nil {
			stages[path] = map[string][2]string{}
		}
		stages[path][f[2]] = [2]string{f[0], f[1]}
	}
	for path, st := range stages {
		b, o, t := st["1"], st["2"], st["3"]
		if len(st) != 3 || o[0] != t[0] || (o[0] != "100644" && o[0] != "100755") {
			return "", nil // add/add, modify/delete, mode or type changes: a conflict
		}
		merged, err := d.mergeFile(repoDir, tmp, b[1], o[1], t[1])
		if err != nil || merged == "" {
			return "", err
		}
		if _, code, err := d.git(repoDir, index, "", "update-index", "--cacheinfo", o[0]+","+merged+","+path); err != nil || code != 0 {
			return "", fmt.Errorf("update-index: exit %d: %v", code, err)
		}
	}
	tree, code, err := d.git(repoDir, index, "", "write-tree")
	if err != nil || code != 0 {
		return "", fmt.Errorf("write-tree: exit %d: %v", code, err)
	}
	return firstLine(tree), nil
}

// mergeFile merges three blobs line by line and writes the result as a
// blob, returning its id, or "" when the lines conflict.
func (d *Deployer) mergeFile(repoDir, tmp, base, ours, theirs string) (string, error) {
	var files []string
	for i, blob := range []string{ours, base, theirs} {
		content, code, err := d.git(repoDir, nil, "", "cat-file", "blob", blob)
		if err != nil || code != 0 {
			return "", fmt.Errorf("cat-file %s: exit %d: %v", blob, code, err)
		}
		name := filepath.Join(tmp, strconv.Itoa(i))
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			return "", err
		}
		files = append(files, name)
	}
	merged, code, err := d.git(repoDir, nil, "", append([]string{"merge-file", "-p", "-q"}, files...)...)
	if err != nil || code != 0 {
		return "", err // code > 0 counts conflicts
	}
	blob, code, err := d.git(repoDir, nil, merged, "hash-object", "-w", "--stdin")
	if err != nil || code != 0 {
		return "", fmt.Errorf("hash-object: exit %d: %v", code, err)
	}
	return firstLine(blob), nil
}

// git runs C git on repoDir without user or system config. An exit code
// from 1 to 127 is returned as a code, not an error (merge-tree and
// merge-file use it for conflicts); anything else failing is an error with
// git's message.
func (d *Deployer) git(repoDir string, env []string, stdin string, args ...string) (string, int, error) {
	cmd := exec.Command(d.gitPath, append([]string{"--git-dir", repoDir}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=/nonexistent"}, env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() >= 1 && exit.ExitCode() < 128 {
		return out.String(), exit.ExitCode(), nil
	}
	if err != nil {
		return "", -1, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), 0, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}

func subject(msg string) string {
	s, _, _ := strings.Cut(msg, "\n")
	return s
}

func hex(h plumbing.Hash) string {
	if h.IsZero() {
		return ""
	}
	return h.String()
}

func short(h plumbing.Hash) string { return h.String()[:12] }
