package deploy

import (
	"context"
	"crypto/rand"
	enchex "encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/internal/gitid"
	"github.com/gerritgate/gerritgate/storage"
)

// Adoption is an operator naming the commit deploy/<Env> moves to without
// the policy's approval: the one way a commit reaches deploy/* other than
// passing the policy (a baseline SHA in the policy is the other naming).
type Adoption struct {
	Project string    `json:"project"`
	Env     string    `json:"environment"`
	Commit  string    `json:"commit"` // full SHA
	Reason  string    `json:"reason"`
	By      string    `json:"by"` // who asked (OS user and host of the adopt command)
	At      time.Time `json:"at"`
	// Action is what the operator asks (Operate): ActionAdopt (also ""),
	// ActionHold, ActionRelease, ActionOverride or ActionRewind; a hold or
	// release names no Commit.
	Action string `json:"action,omitempty"`
	// Name is the name the operator gave (--operator), beside By.
	Name   string `json:"operator,omitempty"`
	Ticket string `json:"ticket,omitempty"` // required for override and rewind
	// Expires is when an override's debt is due (override only).
	Expires time.Time `json:"expires,omitzero"`
	// Rewind lets an override move to a commit that does not descend
	// from the deployed one.
	Rewind bool `json:"rewind,omitempty"`
	// Account is who the file system says asked: the request file's
	// owner (AdoptionRequests), or the command's own account without a
	// service. Never read from the request.
	Account *audit.Account `json:"-"`
}

// operator is a's operator for the audit record.
func (a Adoption) operator() *audit.Operator {
	return &audit.Operator{By: a.By, Name: a.Name, Reason: a.Reason, Ticket: a.Ticket, Expires: a.Expires, Account: a.Account}
}

// AdoptedRef records every adoption of an environment in the served
// repository: a chain of commits, newest first, each with the adopted
// commit as first parent, the previous record as second, and the who, why
// and when in its message (`git log --first-parent` is not needed: `git
// log refs/gerritgate/adopted/<env>` reads it). Hidden from clients.
func (t Target) AdoptedRef() string { return "refs/gerritgate/adopted/" + t.Env }

// Adopt moves deploy/<Env> to a.Commit because an operator named it: the
// commit must be on the upstream branch and, when the environment is
// deployed already, descend from what is deployed (adoption never
// rewinds). The act is recorded under AdoptedRef in the same transaction
// as the move, and logged.
func (d *Deployer) Adopt(ctx context.Context, t Target, a Adoption) Result {
	// The result and the audit record carry when deploy/<env> moved, not
	// when the operator asked (a request waits for the service's next
	// poll): the soak of an environment that comes after this one counts
	// from the move.
	res := newResult(t, d.now())
	if err := d.adopt(ctx, t, a, &res); err != nil {
		res.Reason, res.Message = Failed, "adopt: "+err.Error() // To: where deploy/<env> is
		d.logger.Warn(res.Message, "project", t.Project, "env", t.Env, "commit", a.Commit, "by", a.By)
		if res.To != res.From { // it moved before the failure
			d.announce(t, res)
		}
		return res
	}
	d.logger.Warn("operator adopted a commit without the policy's approval", "project", t.Project, "env", t.Env,
		"from", res.From, "to", res.To, "by", a.By, "reason", a.Reason)
	d.announce(t, res)
	return res
}

func (d *Deployer) adopt(ctx context.Context, t Target, a Adoption, res *Result) error {
	if !gitid.IsSHA1(strings.ToLower(a.Commit)) { // upper case too: plumbing.NewHash reads either
		return fmt.Errorf("commit %q is not a full 40-hex SHA", a.Commit)
	}
	if strings.TrimSpace(a.Reason) == "" || strings.TrimSpace(a.By) == "" {
		return errors.New("an adoption needs a reason and who asked")
	}
	st, err := d.loadToMove(t, res)
	if err != nil {
		return err
	}
	target := plumbing.NewHash(a.Commit)
	c, err := st.up.Commit(target)
	if err != nil {
		return fmt.Errorf("commit %s is not in the upstream mirror of %s", short(target), t.Project)
	}
	if ok, err := st.up.IsAncestor(target, st.head); err != nil {
		return fmt.Errorf("commit %s: reading the history of %s: %w", short(target), t.Branch, err)
	} else if !ok {
		return fmt.Errorf("commit %s is not on upstream branch %s", short(target), t.Branch)
	}
	if !st.tip.IsZero() {
		if st.tip == target {
			return fmt.Errorf("deploy/%s is at %s already", t.Env, short(target))
		}
		if ok, err := st.up.IsAncestor(st.tip, target); err != nil {
			return fmt.Errorf("commit %s: reading its history back to the deployed %s: %w", short(target), short(st.tip), err)
		} else if !ok {
			return fmt.Errorf("commit %s does not descend from the deployed %s: adoption never rewinds deploy/%s", short(target), short(st.tip), t.Env)
		}
	}
	if _, held, err := heldBy(st.served, t); err != nil {
		return err
	} else if held != nil {
		return fmt.Errorf("deploy/%s is held %s: release it first", t.Env, heldSince(held))
	}
	if err := notOwing(st.served, t, "adopt"); err != nil {
		return err
	}
	prev, err := st.served.Ref(t.AdoptedRef())
	if err != nil {
		return err
	}
	record, err := writeRecord(st.served, t, a, c, st.tip, prev)
	if err != nil {
		return err
	}
	also := []storage.RefUpdate{{Name: t.AdoptedRef(), Old: prev, New: record}}
	if was, err := st.served.Ref(t.BaselineRef()); err != nil {
		return err
	} else if was.IsZero() {
		also = append(also, storage.RefUpdate{Name: t.BaselineRef(), New: target})
	}
	trail, err := d.record(t, st.served, &audit.Record{Kind: audit.Adopt, From: hex(st.tip), To: target.String(), Time: res.Time,
		Operator: a.operator()})
	if err != nil {
		return err
	}
	also = append(also, trail...)
	// The record is written first but nothing names it until the
	// transaction that moves deploy/<env> does.
	moved, err := d.advance(ctx, t, st.up, st.served, st.tip, target, also...)
	if moved {
		res.To = target.String()
	}
	if err != nil {
		return err
	}
	res.Reason, res.To = Adopted, target.String()
	res.Message = fmt.Sprintf("an operator (%s) adopted %s as deploy/%s without the policy's approval: %s (recorded in %s)", a.By, short(target), t.Env, a.Reason, t.AdoptedRef())
	return nil
}

// writeRecord writes the commit that records an adoption into the served
// repository. Its tree is the adopted commit's, so it adds no content.
func writeRecord(served *storage.Repo, t Target, a Adoption, c storage.Commit, from, prev plumbing.Hash) (plumbing.Hash, error) {
	fromText := "nothing (deploy/" + t.Env + " did not exist)"
	if !from.IsZero() {
		fromText = from.String()
	}
	msg := fmt.Sprintf("adopt %s as deploy/%s of %s\n\nAn operator named this commit; the policy did not approve it.\n\nReason: %s\nBy: %s\nAt: %s\nFrom: %s\n",
		c.Hash, t.Env, t.Project, oneLine(a.Reason), oneLine(a.By), a.At.UTC().Format(time.RFC3339), fromText)
	sig := object.Signature{Name: "gerritgate", Email: "gerritgate@localhost", When: a.At.UTC()}
	rec := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: c.Tree, ParentHashes: []plumbing.Hash{c.Hash}}
	if !prev.IsZero() {
		rec.ParentHashes = append(rec.ParentHashes, prev)
	}
	obj := &plumbing.MemoryObject{}
	if err := rec.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return served.WriteObject(obj)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// An adopt command run while the service owns the data directory leaves a
// request in <dataDir>/adopt/; the service notices it (the poller watches
// the directory) and applies it at once, writing the outcome beside it. Whoever can write the data directory is
// an operator already; no network endpoint can adopt.
const adoptDir = "adopt"

// RequestAdoption leaves a for the service that owns dataDir and returns
// the request's id.
func RequestAdoption(dataDir string, a Adoption) (string, error) {
	dir := filepath.Join(dataDir, adoptDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := a.At.UTC().Format("20060102T150405Z") + "-" + enchex.EncodeToString(b)
	data, err := json.Marshal(a)
	if err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, "."+id+".tmp")
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return "", err
	}
	return id, os.Rename(tmp, filepath.Join(dir, id+".json"))
}

// AdoptionRequests returns the requests waiting in dataDir, oldest first.
// A request that does not parse is answered at once with an error.
//
// "Oldest" is by the request's id, which starts with its "at": the
// operator's claim, so a request file written by hand can be dated back
// to be applied before others waiting in the same poll. That gives
// nothing an operator lacks (whoever writes the data directory is one),
// and every request is checked against the state it is applied to
// (held, owing, where deploy/<env> is) and against the service's clock
// (checkBreakGlass), not against its place in the queue.
func AdoptionRequests(dataDir string) (map[string]Adoption, []string) {
	out := map[string]Adoption{}
	var ids []string
	for _, id := range WaitingRequests(dataDir) {
		a, err := readRequest(filepath.Join(dataDir, adoptDir, id+".json"))
		if err != nil {
			FinishAdoption(dataDir, id, Result{Reason: Failed, Message: "adopt: request does not parse: " + err.Error()})
			continue
		}
		out[id] = a
		ids = append(ids, id)
	}
	return out, ids
}

// readRequest reads a request file and its owner (from the same open
// file, so the owner is the one of what was read).
func readRequest(path string) (Adoption, error) {
	var a Adoption
	f, err := os.Open(path)
	if err != nil {
		return a, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return a, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return a, err
	}
	a.Account = fileAccount(fi)
	return a, nil
}

// WaitingRequests lists the ids of the requests waiting in dataDir, oldest
// first, without reading them: what the poller watches for.
func WaitingRequests(dataDir string) []string {
	names, _ := filepath.Glob(filepath.Join(dataDir, adoptDir, "*.json"))
	var ids []string
	for _, n := range names {
		if !strings.HasSuffix(n, ".result.json") {
			ids = append(ids, strings.TrimSuffix(filepath.Base(n), ".json"))
		}
	}
	sort.Strings(ids)
	return ids
}

// PostponeAdoption leaves request id waiting and says why beside it
// (what AdoptionWaiting reads), for a command that waits for the answer.
func PostponeAdoption(dataDir, id, why string) error {
	dir := filepath.Join(dataDir, adoptDir)
	tmp := filepath.Join(dir, "."+id+".waiting.tmp")
	if err := os.WriteFile(tmp, []byte(why), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, id+".waiting"))
}

// AdoptionWaiting returns why the service left request id waiting, ""
// when it has not said.
func AdoptionWaiting(dataDir, id string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, adoptDir, id+".waiting"))
	if err != nil {
		return ""
	}
	return string(b)
}

// FinishAdoption writes the outcome of request id and removes the request.
func FinishAdoption(dataDir, id string, res Result) error {
	dir := filepath.Join(dataDir, adoptDir)
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+id+".result.tmp")
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, id+".result.json")); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, id+".waiting")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Remove(filepath.Join(dir, id+".json"))
}

// AdoptionResult reads the outcome of request id, if the service has
// answered it yet.
func AdoptionResult(dataDir, id string) (Result, bool, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, adoptDir, id+".result.json"))
	if errors.Is(err, os.ErrNotExist) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, err
	}
	var res Result
	return res, true, json.Unmarshal(data, &res)
}
