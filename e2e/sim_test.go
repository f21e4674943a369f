package e2e

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

const project = "platform/fleet"

// sim is the simulated Gerrit with the verbs the scenarios use.
type sim struct {
	t        testing.TB
	srv      *gerrittest.Server
	url      string
	password string
	alice    gate.Account // author
	bob      gate.Account // reviewer
	carol    gate.Account // CI / second reviewer
	n        atomic.Int64
}

func newSim(t testing.TB, submitType string, opts ...gerrittest.Option) *sim {
	t.Helper()
	return newSimFull(t, submitType, opts, []gerrittest.ProjectOption{gerrittest.WithLabels(gerrittest.CodeReview(), gerrittest.Verified())})
}

// newSimWith makes platform/fleet with the given project options.
func newSimWith(t testing.TB, submitType string, popts ...gerrittest.ProjectOption) *sim {
	t.Helper()
	return newSimFull(t, submitType, nil, popts)
}

func newSimFull(t testing.TB, submitType string, opts []gerrittest.Option, popts []gerrittest.ProjectOption) *sim {
	t.Helper()
	srv, err := gerrittest.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s := &sim{t: t, srv: srv, url: srv.URL(), password: "gate-secret-" + fmt.Sprint(t.Name())}
	srv.SetCredentials("gate", s.password)
	registerSecret(s.password)
	s.alice, s.bob, s.carol = srv.AddAccount("alice"), srv.AddAccount("bob"), srv.AddAccount("carol")
	if err := srv.CreateProject(project, submitType, popts...); err != nil {
		t.Fatal(err)
	}
	return s
}

// setup is a gate on this Gerrit, signed in as the gate's account, under
// policy; a test sets what else it needs.
func (s *sim) setup(policy string) gateSetup {
	return gateSetup{gerritURL: s.url, username: "gate", password: s.password, policy: policy}
}

func (s *sim) head() string {
	s.t.Helper()
	h, err := s.srv.BranchTip(project, "main")
	if err != nil {
		s.t.Fatal(err)
	}
	return h
}

func (s *sim) repoDir() string { return s.srv.RepoDir(project) }

func (s *sim) must(err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
}

// create uploads a change by alice touching its own file.
func (s *sim) create(subject string, files map[string]string) int {
	s.t.Helper()
	if files == nil {
		files = map[string]string{fmt.Sprintf("apps/f%d.yaml", s.n.Add(1)): subject + "\n"}
	}
	ch, err := s.srv.CreateChange(gerrittest.ChangeInput{Project: project, Branch: "main", Owner: s.alice, Subject: subject, Files: files})
	s.must(err)
	return ch.Number
}

func (s *sim) submit(n int) string {
	s.t.Helper()
	return s.submitBy(n, s.bob)
}

func (s *sim) submitBy(n int, submitter gate.Account) string {
	s.t.Helper()
	_, err := s.srv.Submit(n, submitter)
	s.must(err)
	return s.head()
}

// mergeApproved merges a change with Code-Review +2 and Verified +1 and
// returns the branch head after submit.
func (s *sim) mergeApproved(subject string) string {
	s.t.Helper()
	return s.mergeApprovedFiles(subject, nil)
}

func (s *sim) mergeApprovedFiles(subject string, files map[string]string) string {
	s.t.Helper()
	n := s.create(subject, files)
	s.must(s.srv.Vote(n, s.bob, "Code-Review", 2))
	s.must(s.srv.Vote(n, s.carol, "Verified", 1))
	return s.submit(n)
}

// mergeUnapproved merges a change that has only Code-Review +1.
func (s *sim) mergeUnapproved(subject string) (int, string) {
	s.t.Helper()
	n := s.create(subject, nil)
	s.must(s.srv.Vote(n, s.bob, "Code-Review", 1))
	s.must(s.srv.Vote(n, s.carol, "Verified", 1))
	return n, s.submit(n)
}

// approve raises the votes on a merged change (Gerrit accepts post-submit
// votes that do not lower an earlier one).
func (s *sim) approve(n int) {
	s.t.Helper()
	s.must(s.srv.Vote(n, s.bob, "Code-Review", 2))
}

// directPush pushes a commit straight to main, past review.
func (s *sim) directPush(subject string) string {
	s.t.Helper()
	sha, err := s.srv.DirectPush(project, "main", s.carol, subject, map[string]string{fmt.Sprintf("pushed%d.yaml", s.n.Add(1)): subject})
	s.must(err)
	return sha
}
