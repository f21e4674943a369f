package e2e

import (
	"context"
	"testing"
	"time"

	fluxgit "github.com/fluxcd/pkg/git"
	"github.com/fluxcd/pkg/git/gogit"
	"github.com/fluxcd/pkg/git/repository"
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
	opts := []gogit.ClientOption{gogit.WithDiskStorage(), gogit.WithSingleBranch(true)}
	if auth.Username != "" || auth.Password != "" || auth.BearerToken != "" {
		opts = append(opts, gogit.WithInsecureCredentialsOverHTTP())
	}
	client, err := gogit.NewClient(t.TempDir(), auth, opts...)
	if err != nil {
		return "", false, err
	}
	defer client.Close()
	// source-controller passes the last artifact's revision,
	// "<branch>@sha1:<hash>".
	if lastObserved != "" {
		lastObserved = branch + "@sha1:" + lastObserved
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.Clone(ctx, url, repository.CloneConfig{
		CheckoutStrategy:   repository.CheckoutStrategy{Branch: branch},
		ShallowClone:       true,
		LastObservedCommit: lastObserved,
	})
	if err != nil {
		return "", false, err
	}
	return c.Hash.String(), fluxgit.IsConcreteCommit(*c), nil
}
