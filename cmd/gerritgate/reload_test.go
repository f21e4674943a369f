package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The policy file is read once at start: an edit made after the service
// parsed it (before the watcher's first look) is reloaded, not taken for
// the starting content and lost.
func TestPolicyEditAfterStartIsReloaded(t *testing.T) {
	dir := t.TempDir()
	const policy = `repos:
  - project: platform/fleet
    branch: main
    environments:
      - {name: prod, policy: reviewed, baseline: upstream}
policies:
  reviewed:
    labels: {Code-Review: {min: 2}}
`
	policyFile := filepath.Join(dir, "policy.yaml")
	configFile := filepath.Join(dir, "gerritgate.yaml")
	for name, data := range map[string]string{
		policyFile: policy,
		configFile: "dataDir: ./data\npolicy: ./policy.yaml\ngerrit:\n  url: http://127.0.0.1:9\n",
	} {
		if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := LoadConfig(configFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newService(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.store.Close()
	// The edit lands between the service's read and the watcher's start.
	edited := strings.Replace(policy, "min: 2", "min: 1", 1)
	if err := os.WriteFile(policyFile, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.watchPolicy(ctx, 10*time.Millisecond, nil); close(done) }()
	defer func() { cancel(); <-done }()
	reloaded := func() bool {
		rec := httptest.NewRecorder()
		s.metrics.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return strings.Contains(rec.Body.String(), `gerritgate_reloads_total{file="policy",result="ok"} 1`)
	}
	for deadline := time.Now().Add(20 * time.Second); !reloaded(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the edit was never reloaded")
		}
	}
}
