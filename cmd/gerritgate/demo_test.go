package main

import (
	"testing"

	"github.com/gerritgate/gerritgate/gate"
)

// The demo's policy is the example policy with staging before prod, and
// prod after staging with the demo's soak.
func TestDemoPolicy(t *testing.T) {
	src, err := demoPolicy()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := gate.ParsePolicy("policy.yaml", []byte(src))
	if err != nil {
		t.Fatalf("the demo's policy: %v\n%s", err, src)
	}
	envs := pc.Repos[0].Environments
	if len(envs) != 2 {
		t.Fatalf("the demo's policy has %d environments, want staging and prod:\n%s", len(envs), src)
	}
	got := []string{envs[0].Name + " " + envs[0].Brief(), envs[1].Name + " " + envs[1].Brief()}
	want := []string{"staging policy reviewed", "prod policy reviewed, after staging, soak 20s"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("environment %d: %q, want %q", i, got[i], want[i])
		}
	}
	if envs[1].Soak != demoSoak {
		t.Errorf("prod soaks %s, the story says %s", envs[1].Soak, demoSoak)
	}
}
