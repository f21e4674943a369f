package gerrittest

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/internal/gitmerge"
)

// Change statuses.
const (
	StatusNew       = "NEW"
	StatusMerged    = "MERGED"
	StatusAbandoned = "ABANDONED"
)

// Change is a snapshot of a simulated change.
type Change struct {
	Number          int
	Project         string
	Branch          string
	ChangeID        string // the Change-Id footer, I + 40 hex
	Subject         string
	Status          string
	Owner           gate.Account
	CurrentRevision string
	PatchSets       []PatchSet
}

// PatchSet is a snapshot of one patch set.
type PatchSet struct {
	Number   int
	SHA      string
	Parents  []string
	Uploader gate.Account
	Kind     string
	Ref      string // refs/changes/NN/N/P
}

type patchSet struct {
	number         int
	sha            string
	tree           string
	parents        []string
	parentSubjects []string
	uploader       int
	created        time.Time
	kind           string
	author         ident
	committer      ident
	message        string
	insertions     int
	deletions      int
	description    string     // "Rebase" for patch sets a rebasing submit made
	conflicts      *conflicts // likewise
}

// conflicts is Gerrit's ConflictsInfo of a rebased patch set.
type conflicts struct {
	base, ours, theirs string
}

type approval struct {
	value      int
	date       time.Time
	tag        string
	postSubmit bool
}

type changeMessage struct {
	id     string
	author int // 0: none
	date   time.Time
	text   string
	ps     int
	tag    string
}

type change struct {
	number       int
	project      *project
	branch       string
	changeID     string
	subject      string
	topic        string
	status       string
	owner        int
	created      time.Time
	updated      time.Time
	submitted    time.Time // zero unless merged by submit
	submitter    int
	mergedOn     time.Time
	submissionID string
	patchSets    []*patchSet
	approvals    map[int]map[string]map[int]approval // patch set -> label -> account
	reviewers    map[int]bool
	messages     []changeMessage
	storedSR     []srResult // set when merged
}

func (c *change) current() *patchSet { return c.patchSets[len(c.patchSets)-1] }

func (c *change) currentApprovals() map[string]map[int]approval {
	return c.approvalsOn(c.current().number)
}

func (c *change) approvalsOn(ps int) map[string]map[int]approval {
	if c.approvals[ps] == nil {
		c.approvals[ps] = map[string]map[int]approval{}
	}
	return c.approvals[ps]
}

func changeRef(number, ps int) string {
	return fmt.Sprintf("refs/changes/%02d/%d/%d", number%100, number, ps)
}

func (s *Server) snapshot(c *change) Change {
	out := Change{
		Number:          c.number,
		Project:         c.project.name,
		Branch:          c.branch,
		ChangeID:        c.changeID,
		Subject:         c.subject,
		Status:          c.status,
		Owner:           s.accountByID(c.owner).Account,
		CurrentRevision: c.current().sha,
	}
	for _, ps := range c.patchSets {
		out.PatchSets = append(out.PatchSets, PatchSet{
			Number:   ps.number,
			SHA:      ps.sha,
			Parents:  append([]string(nil), ps.parents...),
			Uploader: s.accountByID(ps.uploader).Account,
			Kind:     ps.kind,
			Ref:      changeRef(c.number, ps.number),
		})
	}
	return out
}

// Change returns a snapshot of a change by number.
func (s *Server) Change(number int) (Change, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.changeByNumber(number)
	if c == nil {
		return Change{}, false
	}
	return s.snapshot(c), true
}

func (s *Server) changeByNumber(n int) *change {
	if n < 1 || n > len(s.changes) {
		return nil
	}
	return s.changes[n-1]
}

func (s *Server) changeFor(number int) (*change, error) {
	c := s.changeByNumber(number)
	if c == nil {
		return nil, errorf(404, "Not found: %d", number)
	}
	return c, nil
}

func (s *Server) accountFor(a gate.Account) (*account, error) {
	acc := s.accountByID(a.ID)
	if acc == nil {
		return nil, errorf(422, "account %d not found", a.ID)
	}
	return acc, nil
}

// newID returns 40 hex digits unique within the server.
func (s *Server) newID(kind string) string {
	s.serial++
	sum := sha1.Sum([]byte(fmt.Sprintf("%s\x00%d", kind, s.serial)))
	return hex.EncodeToString(sum[:])
}

func (s *Server) addMessage(c *change, author int, date time.Time, ps int, tag, text string) {
	c.messages = append(c.messages, changeMessage{id: s.newID("message"), author: author, date: date, text: text, ps: ps, tag: tag})
	c.updated = date
}

// ChangeInput describes a new change.
type ChangeInput struct {
	Project string
	Branch  string // default "main"
	Owner   gate.Account
	Subject string
	Body    string // optional, between subject and footers
	Files   map[string]string
	Delete  []string // paths the change deletes (a move: delete one, add the other)
	Parent  string   // base commit; default the branch tip
	// Merge makes the change a merge commit with parents (Parent, Merge)
	// whose tree is their merge as JGit makes it, with Files and Delete
	// applied: how another branch is merged in through review. Without
	// it, a Parent that is on another branch but not on Branch is refused
	// as an implicit merge, as Gerrit 3.13 does.
	Merge string
	Topic string
}

// CreateChange uploads patch set 1 of a new change: a commit on top of the
// branch tip (or Parent) with a Change-Id footer, stored at
// refs/changes/NN/N/1 as Gerrit stores it.
func (s *Server) CreateChange(in ChangeInput) (Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.project(in.Project)
	if err != nil {
		return Change{}, err
	}
	owner, err := s.accountFor(in.Owner)
	if err != nil {
		return Change{}, err
	}
	if in.Branch == "" {
		in.Branch = defaultBranch
	}
	if in.Subject == "" || strings.Contains(in.Subject, "\n") {
		return Change{}, errorf(400, "subject must be one non-empty line")
	}
	parent := in.Parent
	if parent == "" {
		if parent, err = s.revParse(p.dir, "refs/heads/"+in.Branch); err != nil {
			return Change{}, err
		}
		if parent == "" {
			return Change{}, errorf(400, "branch %s not found", in.Branch)
		}
	}
	parents, base := []string{parent}, parent
	if in.Merge != "" {
		tree, err := gitmerge.Merge(context.Background(), p.dir, parent, in.Merge)
		if err != nil {
			return Change{}, errorf(409, "merge of %s into %s: %v", in.Merge, parent, err)
		}
		parents, base = append(parents, in.Merge), tree
	} else if implicit, err := s.implicitMerge(p.dir, in.Branch, parent); err != nil {
		return Change{}, err
	} else if implicit {
		return Change{}, errorf(400, "ERROR: Implicit Merge of %s (implicit merges detected)", parent[:7])
	}
	number := len(s.changes) + 1
	changeID := "I" + s.newID(fmt.Sprintf("change-id\x00%s\x00%s\x00%s", p.name, in.Branch, in.Subject))
	msg := in.Subject + "\n\n"
	if in.Body != "" {
		msg += strings.TrimRight(in.Body, "\n") + "\n\n"
	}
	msg += "Change-Id: " + changeID + "\n"
	now := s.tick()
	id := ident{owner.Name, owner.Email, now}
	files := contents(in.Files)
	for _, d := range in.Delete {
		files[d] = nil
	}
	tree, err := s.writeTree(p.dir, base, files)
	if err != nil {
		return Change{}, err
	}
	ps, err := s.storePatchSet(p, number, 1, tree, parents, msg, id, id, owner.ID, now)
	if err != nil {
		return Change{}, err
	}
	c := s.openChange(p, in.Branch, changeID, in.Subject, owner.ID, now, ps)
	c.topic = in.Topic
	return s.snapshot(c), nil
}

// openChange adds a new change whose patch set 1 is ps, with the message
// Gerrit writes for the upload.
func (s *Server) openChange(p *project, branch, changeID, subject string, owner int, now time.Time, ps *patchSet) *change {
	ps.kind = "REWORK"
	c := &change{
		number:    len(s.changes) + 1,
		project:   p,
		branch:    branch,
		changeID:  changeID,
		subject:   subject,
		status:    StatusNew,
		owner:     owner,
		created:   now,
		updated:   now,
		patchSets: []*patchSet{ps},
		approvals: map[int]map[string]map[int]approval{},
		reviewers: map[int]bool{},
	}
	s.changes = append(s.changes, c)
	s.addMessage(c, owner, now, 1, "autogenerated:gerrit:newPatchSet", "Uploaded patch set 1.")
	return c
}

// UploadExisting uploads a commit the project already has (a patch set of
// another change, say) as patch set 1 of a new change on branch, as a
// push to refs/for/<branch> with the base option (-o base=...) does in
// Gerrit: the same commit, its Change-Id footer included, becomes a change
// of another branch, or a second change of the same one. One commit is
// then a patch set of several changes.
func (s *Server) UploadExisting(projectName, branch string, uploader gate.Account, sha string) (Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.project(projectName)
	if err != nil {
		return Change{}, err
	}
	up, err := s.accountFor(uploader)
	if err != nil {
		return Change{}, err
	}
	if tip, err := s.revParse(p.dir, "refs/heads/"+branch); err != nil || tip == "" {
		return Change{}, errorf(400, "branch %s not found", branch)
	}
	out, err := s.git(p.dir, nil, nil, "show", "-s", "--format=%T%x00%P%x00%an%x00%ae%x00%at%x00%cn%x00%ce%x00%ct%x00%B", sha)
	if err != nil {
		return Change{}, errorf(400, "commit %s not found: %v", sha, err)
	}
	f := strings.SplitN(out, "\x00", 9)
	if len(f) != 9 {
		return Change{}, fmt.Errorf("git show %s: unexpected output", sha)
	}
	when := func(unix string) time.Time {
		n, _ := strconv.ParseInt(unix, 10, 64)
		return time.Unix(n, 0).UTC()
	}
	msg := f[8] + "\n"
	changeID := ""
	for _, line := range strings.Split(msg, "\n") {
		if v, ok := strings.CutPrefix(line, "Change-Id: "); ok {
			changeID = strings.TrimSpace(v)
		}
	}
	if changeID == "" {
		return Change{}, errorf(400, "commit %s has no Change-Id footer", sha)
	}
	subject, _, _ := strings.Cut(msg, "\n")
	now := s.tick()
	ps, err := s.patchSetAt(p, len(s.changes)+1, &patchSet{number: 1, sha: sha, tree: f[0], parents: strings.Fields(f[1]), uploader: up.ID, created: now,
		author: ident{f[2], f[3], when(f[4])}, committer: ident{f[5], f[6], when(f[7])}, message: msg})
	if err != nil {
		return Change{}, err
	}
	return s.snapshot(s.openChange(p, branch, changeID, subject, up.ID, now, ps)), nil
}

// implicitMerge reports whether a change on branch built on parent would
// merge another branch in without saying so: parent is on some branch but
// not on this one (Gerrit refuses the push, receive.rejectImplicitMerges).
func (s *Server) implicitMerge(dir, branch, parent string) (bool, error) {
	tip, err := s.revParse(dir, "refs/heads/"+branch)
	if err != nil || tip == "" {
		return false, err
	}
	if ok, err := s.isAncestor(dir, parent, tip); err != nil || ok {
		return false, err
	}
	return s.onSomeBranch(dir, parent)
}

// writePatchSet writes the commit of a patch set (base tree with files over
// it, on parent) and its refs/changes ref.
func (s *Server) writePatchSet(p *project, number, psNum int, parent, base string, files map[string]*string, msg string, author, committer ident, uploader int, now time.Time) (*patchSet, error) {
	tree, err := s.writeTree(p.dir, base, files)
	if err != nil {
		return nil, err
	}
	return s.storePatchSet(p, number, psNum, tree, []string{parent}, msg, author, committer, uploader, now)
}

func (s *Server) storePatchSet(p *project, number, psNum int, tree string, parents []string, msg string, author, committer ident, uploader int, now time.Time) (*patchSet, error) {
	sha, err := s.commitTree(p.dir, tree, parents, msg, author, committer)
	if err != nil {
		return nil, err
	}
	return s.patchSetAt(p, number, &patchSet{number: psNum, sha: sha, tree: tree, parents: parents, uploader: uploader, created: now,
		author: author, committer: committer, message: msg})
}

// patchSetAt completes ps, whose commit exists, with what Gerrit reports
// about its parents and diff, and points its refs/changes ref at it.
func (s *Server) patchSetAt(p *project, number int, ps *patchSet) (*patchSet, error) {
	if err := s.updateRef(p.dir, changeRef(number, ps.number), ps.sha, ""); err != nil {
		return nil, err
	}
	for _, par := range ps.parents {
		subj, err := s.git(p.dir, nil, nil, "log", "-1", "--format=%s", par)
		if err != nil {
			return nil, err
		}
		ps.parentSubjects = append(ps.parentSubjects, subj)
	}
	if len(ps.parents) > 0 {
		var err error
		ps.insertions, ps.deletions, err = s.diffStat(p.dir, ps.parents[0], ps.sha)
		if err != nil {
			return nil, err
		}
	}
	return ps, nil
}

// PatchSetInput describes a new patch set.
type PatchSetInput struct {
	Files   map[string]string // written over the previous patch set's tree
	Subject string            // new subject; default unchanged
	Rebase  bool              // base it on the current branch tip
}

// NewPatchSet uploads a new patch set. Its kind (REWORK, TRIVIAL_REBASE,
// NO_CODE_CHANGE, NO_CHANGE) decides which votes are copied, per each
// label's CopyOn and CopyMin.
func (s *Server) NewPatchSet(number int, uploader gate.Account, in PatchSetInput) (Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.changeFor(number)
	if err != nil {
		return Change{}, err
	}
	if c.status != StatusNew {
		return Change{}, errorf(409, "change %d is closed", number)
	}
	up, err := s.accountFor(uploader)
	if err != nil {
		return Change{}, err
	}
	old := c.current()
	p := c.project
	parent, base := old.parents[0], old.sha
	if in.Rebase {
		tip, err := s.revParse(p.dir, "refs/heads/"+c.branch)
		if err != nil {
			return Change{}, err
		}
		if tip != parent {
			tree, err := s.mergeTrees(p.dir, tip, old.sha)
			if err != nil {
				return Change{}, errorf(409, "rebase of change %d: %v", number, err)
			}
			parent, base = tip, tree
		}
	}
	msg := old.message
	if in.Subject != "" {
		_, rest, _ := strings.Cut(msg, "\n")
		msg = in.Subject + "\n" + rest
		c.subject = in.Subject
	}
	now := s.tick()
	author := old.author
	committer := ident{up.Name, up.Email, now}
	ps, err := s.writePatchSet(p, number, old.number+1, parent, base, contents(in.Files), msg, author, committer, up.ID, now)
	if err != nil {
		return Change{}, err
	}
	ps.kind = changeKind(old, ps, len(in.Files) == 0)
	s.addPatchSet(c, ps)
	s.addMessage(c, up.ID, now, ps.number, "autogenerated:gerrit:newPatchSet", fmt.Sprintf("Uploaded patch set %d.", ps.number))
	return s.snapshot(c), nil
}

// addPatchSet makes ps current, copying the votes each label's copy
// condition keeps.
func (s *Server) addPatchSet(c *change, ps *patchSet) {
	prev := c.currentApprovals()
	c.patchSets = append(c.patchSets, ps)
	next := c.currentApprovals()
	for name, votes := range prev {
		l, ok := c.project.label(name)
		if !ok {
			continue
		}
		for acct, a := range votes {
			if contains(l.CopyOn, ps.kind) || (l.CopyMin && a.value == l.min()) {
				if next[name] == nil {
					next[name] = map[int]approval{}
				}
				next[name][acct] = a
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Abandon abandons an open change.
func (s *Server) Abandon(number int, by gate.Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.changeFor(number)
	if err != nil {
		return err
	}
	a, err := s.accountFor(by)
	if err != nil {
		return err
	}
	if c.status != StatusNew {
		return errorf(409, "change is %s", strings.ToLower(c.status))
	}
	c.status = StatusAbandoned
	s.addMessage(c, a.ID, s.tick(), c.current().number, "autogenerated:gerrit:abandon", "Abandoned")
	return nil
}

// SetTopic sets a change's topic.
func (s *Server) SetTopic(number int, topic string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.changeFor(number)
	if err != nil {
		return err
	}
	c.topic = topic
	c.updated = s.tick()
	return nil
}

// Touch bumps a change's last-updated time with a message by author, as a
// bot's comment would: the change moves to the front of query results.
func (s *Server) Touch(number int, author gate.Account, message string) error {
	return s.Review(number, author, ReviewInput{Message: message})
}
