package main

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
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
