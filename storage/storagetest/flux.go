package storagetest

import (
	"context"
	"testing"
	"time"

	fluxgit "github.com/fluxcd/pkg/git"
	"github.com/fluxcd/pkg/git/gogit"
	"github.com/fluxcd/pkg/git/repository"
)

// FluxClone clones branch of url as source-controller does for a
// GitRepository (fluxcd/pkg/git/gogit: shallow, single branch, to disk),
// skipped when the branch still points at lastObserved (a commit, or "").
// It returns the commit and whether a clone really happened. Credentials
// in auth are sent over plain HTTP too (the tests' servers are loopback).
func FluxClone(t testing.TB, url string, auth *fluxgit.AuthOptions, branch, lastObserved string) (string, bool, error) {
	t.Helper()
	opts := []gogit.ClientOption{gogit.WithDiskStorage(), gogit.WithSingleBranch(true)}
	if auth.Username != "" || auth.Password != "" || auth.BearerToken != "" {
		opts = append(opts, gogit.WithInsecureCredentialsOverHTTP())
	}
	client, err := gogit.NewClient(t.TempDir(), auth, opts...)
	if err != nil {
		return "", false, err
	}
	defer client.Close()
	if lastObserved != "" {
		// source-controller passes the last artifact's revision.
		lastObserved = branch + "@sha1:" + lastObserved
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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
