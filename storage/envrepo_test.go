package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gerritgate/gerritgate/audit"
)

func TestEnvOfRef(t *testing.T) {
	tests := []struct {
		ref, env string
		ok       bool
	}{
		{"refs/heads/deploy/prod", "prod", true},
		{audit.Ref("staging"), "staging", true},
		{audit.TagRef("prod"), "prod", true},
		{"refs/heads/deploy/eu-west.1", "eu-west.1", true},
		{"refs/gerritgate/hold/prod", "", false},
		{"refs/gerritgate/adopted/prod", "", false},
		{"refs/heads/main", "", false},
		{"refs/heads/deploy/a/b", "", false},
		{"refs/heads/deploy/Prod", "", false},
		{"refs/heads/deploy/", "", false},
		{"refs/tags/v1", "", false},
		{audit.RewoundTagRef("prod", strings.Repeat("ab", 20)), "prod", true},
		{"refs/tags/gerritgate-rewound/prod/abc", "", false},
		{"refs/tags/gerritgate-rewound/Prod/" + strings.Repeat("ab", 20), "", false},
	}
	for _, tt := range tests {
		env, ok := EnvOfRef(tt.ref)
		if env != tt.env || ok != tt.ok {
			t.Errorf("EnvOfRef(%q) = %q, %v; want %q, %v", tt.ref, env, ok, tt.env, tt.ok)
		}
	}
}

func TestValidateEnv(t *testing.T) {
	for env, ok := range map[string]bool{
		"prod": true, "eu-west.1": true, "a": true, "": false, "Prod": false, "a/b": false,
		"..": false, "a..b": false, "x.lock": false, "-x": false, "x-": false, "../served": false,
	} {
		if err := ValidateEnv(env); (err == nil) != ok {
			t.Errorf("ValidateEnv(%q) = %v, want ok=%v", env, err, ok)
		}
	}
}

// envFixture is a served repository with staging ahead of prod: deploy/
// staging at b (child of a), deploy/prod at a, each with an audit branch
// of its own, prod with a signed-tag-like annotated tag, and a hidden
// bookkeeping ref.
type envFixture struct {
	s                           *Store
	combined                    *Repo
	a, b, auditS, auditP, tagP  plumbing.Hash
	hidden                      plumbing.Hash
	stagingOnly, prodOnly, both []plumbing.Hash
}

func newEnvFixture(t *testing.T, dir string) *envFixture {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r, err := s.Served("team/p")
	if err != nil {
		t.Fatal(err)
	}
	f := &envFixture{s: s, combined: r}
	f.a = commit(t, r, plumbing.ZeroHash, "a")
	f.b = commit(t, r, f.a, "b")
	f.auditS = commit(t, r, plumbing.ZeroHash, "audit staging")
	f.auditP = commit(t, r, plumbing.ZeroHash, "audit prod")
	f.hidden = commit(t, r, f.a, "adoption record")
	f.tagP = tag(t, r, f.a, "gerritgate/prod")
	f.stagingOnly = []plumbing.Hash{f.b, f.auditS}
	f.prodOnly = []plumbing.Hash{f.auditP, f.tagP}
	f.both = []plumbing.Hash{f.a}
	if err := r.UpdateRefs(
		RefUpdate{Name: "refs/heads/deploy/staging", New: f.b},
		RefUpdate{Name: audit.Ref("staging"), New: f.auditS},
		RefUpdate{Name: "refs/heads/deploy/prod", New: f.a},
		RefUpdate{Name: audit.Ref("prod"), New: f.auditP},
		RefUpdate{Name: audit.TagRef("prod"), New: f.tagP},
		RefUpdate{Name: "refs/gerritgate/adopted/prod", New: f.hidden},
	); err != nil {
		t.Fatal(err)
	}
	return f
}

func tag(t *testing.T, r *Repo, target plumbing.Hash, name string) plumbing.Hash {
	t.Helper()
	sig := object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000, 0).UTC()}
	tg := &object.Tag{Name: name, Tagger: sig, Message: "tag\n", TargetType: plumbing.CommitObject, Target: target}
	obj := r.git.Storer.NewEncodedObject()
	if err := tg.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := r.WriteObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// check says what env's repository must hold: exactly refs, and of the
// objects, those of has and none of lacks.
func (f *envFixture) check(t *testing.T, env string, refs map[string]plumbing.Hash, has, lacks []plumbing.Hash) {
	t.Helper()
	dir, err := f.s.EnvPath("team/p", env)
	if err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	if want := filepath.Join(f.s.Dir(), "served-env", env, "team", "p.git"); dir != want {
		t.Errorf("%s: repository at %s, want %s", env, dir, want)
	}
	r, err := openRepo(dir, true, false, true)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r.Refs("refs/")
	if len(got) != len(refs) {
		t.Errorf("%s: refs %v, want %v", env, got, refs)
	}
	for name, h := range refs {
		if got[name] != h {
			t.Errorf("%s: %s = %s, want %s", env, name, got[name], h)
		}
	}
	if head, _ := r.Head(); head != "refs/heads/deploy/"+env {
		t.Errorf("%s: HEAD -> %s, want deploy/%s", env, head, env)
	}
	if cfg, _ := os.ReadFile(filepath.Join(dir, "config")); string(cfg) != servedConfig {
		t.Errorf("%s: config is not a served repository's:\n%s", env, cfg)
	}
	for _, h := range has {
		if r.git.Storer.HasEncodedObject(h) != nil {
			t.Errorf("%s: lacks %s, which it serves", env, h)
		}
	}
	for _, h := range lacks {
		if r.git.Storer.HasEncodedObject(h) == nil {
			t.Errorf("%s: holds %s, which only another environment (or the gate) has", env, h)
		}
	}
}

func (f *envFixture) checkBoth(t *testing.T) {
	t.Helper()
	f.check(t, "staging", map[string]plumbing.Hash{"refs/heads/deploy/staging": f.b, audit.Ref("staging"): f.auditS},
		append(f.stagingOnly, f.both...), append(f.prodOnly, f.hidden))
	f.check(t, "prod", map[string]plumbing.Hash{"refs/heads/deploy/prod": f.a, audit.Ref("prod"): f.auditP, audit.TagRef("prod"): f.tagP},
		append(f.prodOnly, f.both...), append(f.stagingOnly, f.hidden))
}

// An update of the served repository brings each environment's own
// repository along, holding that environment's refs and objects only.
func TestEnvReposFollowTheServedRepository(t *testing.T) {
	f := newEnvFixture(t, t.TempDir())
	f.checkBoth(t)

	// prod advances to b: its repository gets b, staging's is untouched.
	auditP2 := commit(t, f.combined, f.auditP, "audit prod 2")
	if err := f.combined.UpdateRefs(RefUpdate{Name: "refs/heads/deploy/prod", Old: f.a, New: f.b},
		RefUpdate{Name: audit.Ref("prod"), Old: f.auditP, New: auditP2}); err != nil {
		t.Fatal(err)
	}
	f.check(t, "prod", map[string]plumbing.Hash{"refs/heads/deploy/prod": f.b, audit.Ref("prod"): auditP2, audit.TagRef("prod"): f.tagP},
		[]plumbing.Hash{f.a, f.b, f.auditP, auditP2, f.tagP}, []plumbing.Hash{f.auditS, f.hidden})
}

func TestReaderPath(t *testing.T) {
	f := newEnvFixture(t, t.TempDir())
	combined := f.combined.Dir()
	env := func(e string) string { return filepath.Join(f.s.Dir(), "served-env", e, "team", "p.git") }
	tests := []struct {
		grant   Grant
		want    string
		wantErr error
	}{
		{Grant{All: true}, combined, nil},
		{Grant{Envs: []string{"staging"}}, env("staging"), nil},
		{Grant{Envs: []string{"prod"}}, env("prod"), nil},
		{Grant{Envs: []string{"prod", "staging"}}, combined, nil},
		{Grant{Envs: []string{"qa", "staging", "prod"}}, combined, nil},
		{Grant{Envs: []string{"staging", "qa"}}, "", ErrGrant},
		{Grant{}, "", ErrGrant},
		{Grant{Envs: []string{}}, "", ErrGrant},
		{Grant{Envs: []string{"qa"}}, "", ErrNotFound},
		{Grant{Envs: []string{"../served"}}, "", nil},
	}
	for _, tt := range tests {
		got, err := f.s.ReaderPath("team/p", tt.grant)
		switch {
		case tt.want == "" && tt.wantErr == nil:
			if err == nil {
				t.Errorf("ReaderPath(%+v) = %s, want an error", tt.grant, got)
			}
		case got != tt.want || !errors.Is(err, tt.wantErr):
			t.Errorf("ReaderPath(%+v) = %q, %v; want %q, %v", tt.grant, got, err, tt.want, tt.wantErr)
		}
	}
	if _, err := f.s.ReaderPath("team/none", Grant{Envs: []string{"prod"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReaderPath of a project without a served repository = %v, want ErrNotFound", err)
	}
}

// A crash between the served repository's update and the environment
// repository's leaves the latter behind: a reader's next request and the
// next start each bring it in step; an upgrade from a data directory
// without environment repositories builds them at start.
func TestEnvReposRecover(t *testing.T) {
	dir := t.TempDir()
	f := newEnvFixture(t, dir)
	// "Crash" after the served repository moved: the environment
	// repositories never hear of it.
	follow := f.combined.follow
	f.combined.follow = nil
	c := commit(t, f.combined, f.b, "c")
	// Two records appended while the environment repository missed them:
	// it takes both at once.
	rec1 := commit(t, f.combined, f.auditS, "audit staging 2")
	rec2 := commit(t, f.combined, rec1, "audit staging 3")
	if err := f.combined.UpdateRefs(RefUpdate{Name: "refs/heads/deploy/staging", Old: f.b, New: c},
		RefUpdate{Name: audit.Ref("staging"), Old: f.auditS, New: rec1}); err != nil {
		t.Fatal(err)
	}
	if err := f.combined.UpdateRefs(RefUpdate{Name: audit.Ref("staging"), Old: rec1, New: rec2}); err != nil {
		t.Fatal(err)
	}
	f.combined.follow = follow
	if ok, err := f.s.envInStep("team/p", "staging"); ok || err != nil {
		t.Fatalf("staging in step after a missed sync: %v %v", ok, err)
	}
	if _, err := f.s.ReaderPath("team/p", Grant{Envs: []string{"staging"}}); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.s.envInStep("team/p", "staging"); !ok || err != nil {
		t.Fatalf("staging not in step after a reader's request: %v %v", ok, err)
	}

	// The same, then a restart.
	f.combined.follow = nil
	d := commit(t, f.combined, c, "d")
	if err := f.combined.UpdateRefs(RefUpdate{Name: "refs/heads/deploy/staging", Old: c, New: d}); err != nil {
		t.Fatal(err)
	}
	f.s.Close()
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if ok, _ := s2.envInStep("team/p", "staging"); ok {
		t.Fatal("staging in step before recovery: the test shows nothing")
	}
	if err := s2.RecoverServed(); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"staging", "prod"} {
		if ok, err := s2.envInStep("team/p", env); !ok || err != nil {
			t.Errorf("%s not in step after RecoverServed: %v %v", env, ok, err)
		}
	}
	s2.Close()

	// Upgrade: no environment repositories at all.
	if err := os.RemoveAll(filepath.Join(dir, "served-env")); err != nil {
		t.Fatal(err)
	}
	f2 := &envFixture{}
	*f2 = *f
	s3, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if err := s3.RecoverServed(); err != nil {
		t.Fatal(err)
	}
	f2.s, f2.b, f2.auditS = s3, d, rec2
	f2.stagingOnly = []plumbing.Hash{f.b, c, d, f.auditS, rec1, rec2}
	f2.checkBoth(t)
}

// A transaction a crash interrupted (its journal still there) is not
// copied into an environment repository: readers of the environment are
// refused until recovery finishes it.
func TestEnvRepoRefusesInterruptedTransaction(t *testing.T) {
	f := newEnvFixture(t, t.TempDir())
	if err := os.WriteFile(filepath.Join(f.combined.Dir(), journalName), []byte("refs/heads/deploy/staging\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if p, err := f.s.ReaderPath("team/p", Grant{Envs: []string{"staging"}}); err == nil {
		t.Errorf("ReaderPath during an interrupted transaction = %s, want an error", p)
	}
	if err := f.s.SyncEnv(t.Context(), "team/p", "staging"); err == nil {
		t.Error("SyncEnv during an interrupted transaction succeeded")
	}
}

// An environment repository with a ref the served repository lacks (an
// operator deleted it there to start the environment over) is made afresh:
// neither the ref nor what only it reached stays.
func TestEnvRepoWithForeignRef(t *testing.T) {
	f := newEnvFixture(t, t.TempDir())
	er, err := f.s.repo(envKind("staging"), "team/p", false)
	if err != nil {
		t.Fatal(err)
	}
	stray := commit(t, er, f.b, "only in the environment repository")
	if err := er.UpdateRefs(RefUpdate{Name: "refs/heads/stray", New: stray}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.s.envInStep("team/p", "staging"); ok {
		t.Fatal("in step with a stray ref: the test shows nothing")
	}
	if _, err := f.s.ReaderPath("team/p", Grant{Envs: []string{"staging"}}); err != nil {
		t.Fatal(err)
	}

	f.check(t, "staging", map[string]plumbing.Hash{"refs/heads/deploy/staging": f.b, audit.Ref("staging"): f.auditS},
		append(f.stagingOnly, f.both...), []plumbing.Hash{stray, f.auditP, f.hidden})
	if _, err := os.Stat(er.Dir() + ".removing"); err == nil {
		t.Error("the old repository was left aside")
	}
}

func TestEnvs(t *testing.T) {
	f := newEnvFixture(t, t.TempDir())
	envs, err := f.combined.envs()
	if err != nil || len(envs) != 2 || envs[0] != "prod" || envs[1] != "staging" {
		t.Errorf("envs = %v, %v; want [prod staging]", envs, err)
	}
}
