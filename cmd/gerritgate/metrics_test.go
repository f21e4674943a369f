package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/access"
)

// The SSH server's connection events reach /metrics: failed logins as
// their own counter, the rest by reason.
func TestMetricsSSHEvents(t *testing.T) {
	m := newMetrics()
	for _, ev := range []string{"login_failed", "login_failed", "blocked", "handshake_timeout", "idle_timeout", "handshake_timeout"} {
		m.observeSSH(ev)
	}
	rec := httptest.NewRecorder()
	m.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		"gerritgate_ssh_failed_logins_total 2",
		`gerritgate_ssh_connections_cut_total{reason="blocked"} 1`,
		`gerritgate_ssh_connections_cut_total{reason="handshake_timeout"} 2`,
		`gerritgate_ssh_connections_cut_total{reason="idle_timeout"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// /metrics takes the metrics tokens of the access file in force: after a
// reload the new token opens it and the old one no longer does.
func TestMetricsTokenFollowsReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.yaml")
	write := func(token string) {
		t.Helper()
		data := fmt.Sprintf("metrics:\n  tokens: [%q]\n", access.HashToken(token))
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("scrape-one")
	w, err := access.NewWatcher(path, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := nudgeService(nil)
	s.access = w
	srv := httptest.NewServer(s.handler())
	defer srv.Close()
	scrape := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	check := func(when string, want map[string]int) {
		t.Helper()
		for token, code := range want {
			if got := scrape(token); got != code {
				t.Errorf("%s: /metrics with token %q: %d, want %d", when, token, got, code)
			}
		}
	}
	check("first load", map[string]int{"scrape-one": 200, "scrape-two": 401, "": 401})
	write("scrape-two")
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	check("after the reload", map[string]int{"scrape-one": 401, "scrape-two": 200, "": 401})
}
