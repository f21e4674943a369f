package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	notificationv1 "github.com/fluxcd/notification-controller/api/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/gerritgate/gerritgate/access"
	"github.com/gerritgate/gerritgate/examples"
	"github.com/gerritgate/gerritgate/gate"
)

// TestKubernetesExampleFilesLoad: the gerritgate.yaml and policy.yaml the
// Kubernetes example ships in its ConfigMap, and examples/kubernetes's
// access.yaml, load with the parsers serve uses (the manifests' own shape
// is examples' test).
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
	if cfg.Audit.SigningKey != "/etc/gerritgate/audit/gate-key.asc" {
		t.Errorf("the example's config signs the audit trail with %q, want the key from its Secret mount /etc/gerritgate/audit/gate-key.asc", cfg.Audit.SigningKey)
	}
	if _, err := gate.ParsePolicy("policy.yaml", []byte(cm.Data["policy.yaml"])); err != nil {
		t.Fatalf("the example's policy.yaml: %v", err)
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
		if !list.CanReadEnv(r, "platform/fleet", "prod") {
			t.Errorf("reader %s of the example access.yaml cannot read prod of platform/fleet, the example policy's project", r)
		}
	}
	if len(list.Readers()) == 0 {
		t.Error("the example access.yaml has no readers")
	}
}

// TestFluxReceiverExampleMatchesThePolicy: the notify: lines
// examples/flux/receiver.yaml tells users to add are a valid policy
// entry, of the type its Receiver has.
func TestFluxReceiverExampleMatchesThePolicy(t *testing.T) {
	data, err := os.ReadFile("../../examples/flux/receiver.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var snippet []string
	for _, l := range strings.Split(string(data), "\n") {
		if l == "# notify:" {
			snippet = []string{"notify:"}
		} else if snippet != nil && strings.HasPrefix(l, "#   ") {
			snippet = append(snippet, l[2:])
		} else if snippet != nil {
			break
		}
	}
	if len(snippet) < 2 {
		t.Fatal("examples/flux/receiver.yaml: no commented notify: entry")
	}
	var recv notificationv1.Receiver
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var r notificationv1.Receiver
		if err := yaml.Unmarshal([]byte(doc), &r); err == nil && r.Kind == "Receiver" {
			recv = r
		}
	}
	const at = "        baseline: upstream\n"
	policy := examples.Policy()
	if !strings.Contains(policy, at) {
		t.Fatalf("examples/policy.yaml has no line %q to add notify: after", at)
	}
	policy = strings.Replace(policy, at, at+"        "+strings.Join(snippet, "\n        ")+"\n", 1)
	pc, err := gate.ParsePolicy("policy.yaml", []byte(policy))
	if err != nil {
		t.Fatalf("the policy with receiver.yaml's notify: entry:\n%s\n%v", policy, err)
	}
	n := pc.Repos[0].Environments[0].Notify
	if len(n) != 1 || n[0].Type != recv.Spec.Type {
		t.Errorf("the policy's notify: %+v, want one entry of the Receiver's type %q", n, recv.Spec.Type)
	}
}
