package e2e

import (
	"testing"

	fluxgit "github.com/fluxcd/pkg/git"

	"github.com/gerritgate/gerritgate/storage/storagetest"
)

// fluxClone clones a branch exactly as source-controller does for a
// GitRepository with spec.ref.branch: a fresh shallow, single-branch clone
// to disk, skipped when the branch still points at lastObserved. It returns
// the commit hash, and whether a clone really happened.
func fluxClone(t *testing.T, url, branch, lastObserved string, auth *fluxgit.AuthOptions) (string, bool, error) {
	t.Helper()
	if auth == nil {
		auth = &fluxgit.AuthOptions{Transport: fluxgit.HTTP}
	}
	return storagetest.FluxClone(t, url, auth, branch, lastObserved)
}
