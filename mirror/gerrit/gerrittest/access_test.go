package gerrittest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gerritgate/gerritgate/mirror/gerrit"
	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// check.access answers READ as the project's rules say, changes with
// them, needs View Access of its caller and refuses unknown accounts.
func TestCheckAccess(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.must(f.srv.CreateProject("platform/fleet", ""))
	readers, err := f.srv.AddGroup("fleet-readers", gerrittest.Members(f.alice))
	f.must(err)
	canRead := func() (bool, error) {
		return f.client.CanRead(ctx, "platform/fleet", "alice", "refs/heads/main")
	}
	if _, err := canRead(); !errors.Is(err, gerrit.ErrUnauthorized) {
		t.Fatalf("without View Access: err = %v, want ErrUnauthorized", err)
	}
	f.srv.AllowViewAccess(f.svc)

	steps := []struct {
		what   string
		change func() error
		want   bool
	}{
		{"no rules: everyone reads", func() error { return nil }, true},
		{"exclusive to alice's group", func() error { return f.srv.SetReadAccess("platform/fleet", "refs/heads/main", readers) }, true},
		{"alice leaves the group", func() error { return f.srv.RemoveGroupMember(readers, f.alice) }, false},
		{"alice back in", func() error { return f.srv.AddGroupMembers(readers, f.alice) }, true},
		{"no group may read", func() error { return f.srv.SetReadAccess("platform/fleet", "refs/heads/main") }, false},
		{"rules removed", func() error { return f.srv.ClearReadAccess("platform/fleet", "refs/heads/main") }, true},
	}
	for _, s := range steps {
		f.must(s.change())
		got, err := canRead()
		if err != nil || got != s.want {
			t.Errorf("%s: CanRead = %v, %v; want %v", s.what, got, err, s.want)
		}
	}
	f.must(f.srv.SetReadAccess("platform/fleet", "refs/heads/main", readers))
	if ok, err := f.client.CanRead(ctx, "platform/fleet", "alice", "refs/heads/stable"); err != nil || !ok {
		t.Errorf("another branch without rules: %v, %v; want true", ok, err)
	}
	if _, err := f.client.CanRead(ctx, "platform/fleet", "nobody", "refs/heads/main"); err == nil {
		t.Error("unknown account: no error")
	}
	if _, err := f.client.CanRead(ctx, "platform/none", "alice", "refs/heads/main"); !errors.Is(err, gerrit.ErrNotFound) {
		t.Errorf("unknown project: err = %v, want ErrNotFound", err)
	}
}
