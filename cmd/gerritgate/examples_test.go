package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/gerritgate/gerritgate/access"
	"github.com/gerritgate/gerritgate/examples"
	"github.com/gerritgate/gerritgate/gate"
)

// TestKubernetesExampleFilesLoad: the gerritgate.yaml and policy.yaml the
// Kubernetes example ships in its ConfigMap, and examples/kubernetes's
// access.yaml, load with the parsers serve uses (the manifests' own shape
// is examples' test), and serve would accept the policy.
func TestKubernetesExampleFilesLoad(t *testing.T) {
	manifest, err := os.ReadFile("../../examples/kubernetes/gerritgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm *corev1.ConfigMap
	for _, doc := range strings.Split(string(manifest), "\n---\n") {
		var c corev1.ConfigMap
		if err := yaml.Unmarshal([]byte(doc), &c); err == nil && c.Kind == "ConfigMap" {
			cm = &c
		}
	}
	if cm == nil {
		t.Fatal("no ConfigMap in examples/kubernetes/gerritgate.yaml")
	}
	cfg, err := ParseConfig("/etc/gerritgate/config/gerritgate.yaml", []byte(cm.Data["gerritgate.yaml"]))
	if err != nil {
		t.Fatalf("the example's gerritgate.yaml: %v", err)
	}
	if filepath.Dir(cfg.Policy) != "/etc/gerritgate/config" {
		t.Errorf("the example's config reads the policy from %s, not from beside itself in the ConfigMap's directory", cfg.Policy)
	}
	if cfg.Access == "" {
		t.Error("the example's config has no access file: every project would be readable anonymously")
	}
	policy, err := gate.ParsePolicy("policy.yaml", []byte(cm.Data["policy.yaml"]))
	if err != nil {
		t.Fatalf("the example's policy.yaml: %v", err)
	}
	if err := notEnforced(policy); err != nil {
		t.Errorf("serve would refuse the example's policy: %v", err)
	}
	if _, err := gate.ParsePolicy("examples/policy.yaml", []byte(examples.Policy())); err != nil {
		t.Errorf("examples/policy.yaml: %v", err)
	}
	data, err := os.ReadFile("../../examples/kubernetes/access.yaml")
	if err != nil {
		t.Fatal(err)
	}
	list, err := access.Parse("examples/kubernetes/access.yaml", data)
	if err != nil {
		t.Fatalf("examples/kubernetes/access.yaml: %v", err)
	}
	for _, r := range list.Readers() {
		if !list.CanRead(r, "platform/fleet") {
			t.Errorf("reader %s of the example access.yaml cannot read platform/fleet, the example policy's project", r)
		}
	}
	if len(list.Readers()) == 0 {
		t.Error("the example access.yaml has no readers")
	}
}
