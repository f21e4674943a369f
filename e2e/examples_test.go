package e2e

import (
	"os"
	"strings"
	"testing"
)

// TestKubernetesExampleHasTheExamplePolicy: the policy the Kubernetes
// example mounts is examples/policy.yaml (the demo embeds that file, the
// tests read it), so the three cannot drift apart.
func TestKubernetesExampleHasTheExamplePolicy(t *testing.T) {
	manifest, err := os.ReadFile("../examples/kubernetes/gerritgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	in := false
	for _, line := range strings.Split(string(manifest), "\n") {
		switch {
		case line == "  policy.yaml: |":
			in = true
		case in && (line == "" || strings.HasPrefix(line, "    ")):
			got = append(got, strings.TrimPrefix(line, "    "))
		default:
			in = false
		}
	}
	if got == nil {
		t.Fatal("no policy.yaml block in examples/kubernetes/gerritgate.yaml")
	}
	if g := strings.TrimRight(strings.Join(got, "\n"), "\n") + "\n"; g != reviewedPolicy {
		t.Errorf("the Kubernetes example's policy.yaml:\n%s\ndiffers from examples/policy.yaml:\n%s", g, reviewedPolicy)
	}
}
