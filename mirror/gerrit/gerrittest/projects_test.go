package gerrittest_test

import (
	"context"
	"slices"
	"testing"

	"github.com/gerritgate/gerritgate/mirror/gerrit"
	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

func TestListProjects(t *testing.T) {
	srv, err := gerrittest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetCredentials("gate", "pw")
	for _, p := range []string{"platform/fleet", "platform/infra", "team/app"} {
		if err := srv.CreateProject(p, ""); err != nil {
			t.Fatal(err)
		}
	}
	c, err := gerrit.New(srv.URL(), gerrit.WithBasicAuth("gate", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"platform/", []string{"platform/fleet", "platform/infra"}},
		{"team", []string{"team/app"}},
		{"", []string{"All-Projects", "All-Users", "platform/fleet", "platform/infra", "team/app"}},
		{"nothing", []string{}},
	}
	for _, tt := range tests {
		got, err := c.ListProjects(context.Background(), tt.prefix)
		if err != nil {
			t.Fatalf("ListProjects(%q): %v", tt.prefix, err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("ListProjects(%q) = %v, want %v", tt.prefix, got, tt.want)
		}
	}
}
