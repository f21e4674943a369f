package deploy

import (
	"context"
	"testing"
)

// Under WithLookups the environments of a branch ask Gerrit about a
// commit once between them for their decisions (answers that it has no
// change included); without, each environment asks. The question asked
// again right before each move (recheck.go) never comes from them: each
// of the three moves asks it.
func TestLookupsShareAnswersAmongEnvironments(t *testing.T) {
	for _, tt := range []struct {
		what      string
		shared    bool
		wantAsked int
	}{
		{"one poll (WithLookups)", true, 1 + 3},
		{"no lookups in the context", false, 3 + 3},
	} {
		t.Run(tt.what, func(t *testing.T) {
			_, r, f, d, target := setup(t)
			base := r.emptyRoot()
			r.setBranch(base)
			ctx := context.Background()
			envs := []string{"dev", "staging", "prod"}
			for _, env := range envs {
				target.Env = env
				if res := d.Reconcile(ctx, target); res.Reason != Initialized {
					t.Fatalf("%s: %s %s", env, res.Reason, res.Message)
				}
			}
			f.asked = nil
			a := r.commit("a", base)
			pushed := r.commit("pushed past review", a)
			r.setBranch(pushed)
			f.approved[a.String()] = true
			if tt.shared {
				ctx = WithLookups(ctx)
			}
			for _, env := range envs {
				target.Env = env
				if res := d.Reconcile(ctx, target); res.Reason != Advanced || res.To != a.String() {
					t.Errorf("%s: %s to %s (%s), want Advanced to a, stopped before the pushed commit", env, res.Reason, res.To, res.Message)
				}
			}
			if len(f.asked) != tt.wantAsked {
				t.Errorf("Gerrit asked %d times (%v), want %d", len(f.asked), f.asked, tt.wantAsked)
			}
		})
	}
}

// A question Gerrit failed to answer is asked again by the next
// environment, never taken as "no change".
func TestLookupsKeepNoFailure(t *testing.T) {
	_, r, f, d, target := setup(t)
	base := r.emptyRoot()
	r.setBranch(base)
	for _, env := range []string{"dev", "prod"} {
		target.Env = env
		d.Reconcile(context.Background(), target)
	}
	a := r.commit("a", base)
	r.setBranch(a)
	f.approved[a.String()] = true
	ctx := WithLookups(context.Background())
	f.down = true
	target.Env = "dev"
	if res := d.Reconcile(ctx, target); res.Reason != Failed {
		t.Fatalf("dev with Gerrit down: %s %s, want Failed", res.Reason, res.Message)
	}
	f.down = false
	target.Env = "prod"
	if res := d.Reconcile(ctx, target); res.Reason != Advanced || res.To != a.String() {
		t.Errorf("prod after Gerrit came back: %s to %s (%s), want Advanced to a", res.Reason, res.To, res.Message)
	}
}
