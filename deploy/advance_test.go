package deploy

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/storage"
)

// A ref transaction that fails past its commit point is decided: the
// move reports whether deploy/<env> shows the new commit (read from the
// repository, not assumed) and says it is committed; one that failed
// before moved nothing; one whose refs moved before a later step failed
// reports the move.
func TestMoveReportsACommittedTransaction(t *testing.T) {
	store, r, _, d, target := setup(t)
	base := r.commit("base")
	initialize(t, d, r, &target, base)
	served, _ := store.Served("platform/fleet")
	other := plumbing.NewHash(strings.Repeat("e", 40))
	for _, tt := range []struct {
		what      string
		err       error
		to        plumbing.Hash
		wantMoved bool
		wantMsg   string
	}{
		{"committed, the deploy ref renamed", fmt.Errorf("%w: refs/tags/x: rename: injected", storage.ErrCommitted), base, true, "is committed to move"},
		{"committed, the deploy ref not renamed yet", fmt.Errorf("%w: refs/heads/audit/prod: rename: injected", storage.ErrCommitted), other, false, "is committed to move"},
		{"refused before the commit point", &storage.RefError{Ref: target.Ref(), Err: storage.ErrConflict}, other, false, "ref changed concurrently"},
		{"moved, then the environment repositories did not follow", errors.New("sync env prod: injected (the served repository's refs moved)"), base, true, "the served repository's refs moved"},
	} {
		moved, err := committed(target, served, storage.RefUpdate{Name: target.Ref(), New: tt.to}, tt.err)
		if moved != tt.wantMoved || err == nil || !strings.Contains(err.Error(), tt.wantMsg) || !errors.Is(err, tt.err) {
			t.Errorf("%s: moved %v, %v; want moved %v and an error containing %q", tt.what, moved, err, tt.wantMoved, tt.wantMsg)
		}
	}
}
