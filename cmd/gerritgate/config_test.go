package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/audit"
)

const goodConfig = `dataDir: ./data
poll: "@every 30s"
gerrit:
  url: http://127.0.0.1:8081
  username: gate
  passwordFile: ./secrets/gerrit-password
http:
  listen: 127.0.0.1:8080
policy: ./policy.yaml
`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig("/etc/gg/gerritgate.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/etc/gg/data" || c.Policy != "/etc/gg/policy.yaml" || c.Gerrit.PasswordFile != "/etc/gg/secrets/gerrit-password" {
		t.Errorf("relative paths not resolved against the config's directory: %+v", c)
	}
	if c.Gerrit.PageSize != 100 || c.Poll != "@every 30s" || c.Gerrit.fetchTimeout != 5*time.Minute || c.Gerrit.MaxConcurrentFetches != 8 ||
		c.Gerrit.readCheckLifetime != time.Minute || c.Gerrit.readCheckTimeout != 5*time.Second || c.Gerrit.projectListInterval != 5*time.Minute ||
		c.MaxConnectionsPerAddress != 64 || c.SSH.handshakeTimeout != 10*time.Second || c.SSH.idleTimeout != 30*time.Second ||
		c.SSH.maxConnectionTime != 10*time.Minute || c.SSH.MaxFailedLogins != 10 || c.SSH.failedLoginWindow != time.Minute ||
		c.SSH.maxSessions != 64 || c.SSH.maxSessionsPerReader != 16 {
		t.Errorf("defaults: %+v", c)
	}
	if c.HTTP.idleTimeout != time.Minute || c.HTTP.bodyTimeout != 30*time.Second || c.HTTP.readHeaderTimeout != 10*time.Second || c.HTTP.stallTimeout != time.Minute || c.HTTP.uploadPackTimeout != 10*time.Minute {
		t.Errorf("HTTP timeouts: %+v", c.HTTP)
	}
	if c.MaxConnectionsPerAddress != 64 || c.HTTP.MaxRequestBodyKiB != 4096 || c.HTTP.MaxBufferedKiB != 65536 {
		t.Errorf("connection and body bounds: %d, %+v", c.MaxConnectionsPerAddress, c.HTTP)
	}
	if c.MaxConcurrentClones != 32 || c.MaxClonesPerReader != 8 || c.MaxClonesPerAddress != 8 {
		t.Errorf("clone bounds: %d, per reader %d, per address %d; want 32, 8, 8", c.MaxConcurrentClones, c.MaxClonesPerReader, c.MaxClonesPerAddress)
	}
	if c.PackCache.MaxMiB != 1024 || c.PackCache.Disabled {
		t.Errorf("pack cache: %+v, want 1024 MiB, enabled", c.PackCache)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		what, from, to, want string
	}{
		{"unknown key", "poll:", "pol: x\npoll:", `gerritgate.yaml:2:1: unknown field "pol"`},
		{"bad poll", `"@every 30s"`, `"every thirty"`, `gerritgate.yaml:2:7: poll "every thirty"`},
		{"no data dir", "dataDir: ./data\n", "", "dataDir is required"},
		{"gerrit url not http", "url: http://127.0.0.1:8081", "url: ftp://x", "must be an http(s) URL"},
		{"credentials in url", "url: http://127.0.0.1:8081", "url: http://gate:secret@127.0.0.1:8081", "must not hold credentials"},
		{"ssh git url without key", "  username: gate\n", "  gitURL: ssh://gate@127.0.0.1:29418\n  username: gate\n", "needs gerrit.sshKeyFile"},
		{"password without user", "  username: gate\n", "", "needs gerrit.username"},
		{"bad listen", "listen: 127.0.0.1:8080", "listen: nowhere", "http.listen"},
		{"page size", "  username: gate\n", "  username: gate\n  pageSize: 1000\n", "pageSize must be between"},
		{"concurrent fetches", "  username: gate\n", "  username: gate\n  maxConcurrentFetches: 65\n", "gerritgate.yaml:6:25: gerrit.maxConcurrentFetches must be between 1 and 64, got 65"},
		{"ssh without access", "policy:", "ssh:\n  listen: 127.0.0.1:2222\n  hostKeyFiles: [k]\npolicy:", "ssh needs an access file"},
		{"ssh without host key", "policy:", "access: a.yaml\nssh:\n  listen: 127.0.0.1:2222\npolicy:", "hostKeyFiles is required"},
		{"wrong type", "listen: 127.0.0.1:8080", "listen: [a]", "gerritgate.yaml:8:11"},
		{"fetch timeout too short", "  username: gate\n", "  username: gate\n  fetchTimeout: 10ms\n", "gerritgate.yaml:6:17: gerrit.fetchTimeout must be a duration of at least 1s"},
		{"read check lifetime too short", "  username: gate\n", "  username: gate\n  readCheckLifetime: 10ms\n", "gerritgate.yaml:6:22: gerrit.readCheckLifetime must be a duration of at least 1s"},
		{"read check timeout not a duration", "  username: gate\n", "  username: gate\n  readCheckTimeout: soon\n", "gerritgate.yaml:6:21: gerrit.readCheckTimeout must be a duration"},
		{"project list interval too short", "  username: gate\n", "  username: gate\n  projectListInterval: 0s\n", "gerritgate.yaml:6:24: gerrit.projectListInterval must be a duration of at least 1s (e.g. 5m), got \"0s\""},
		{"project list interval not a duration", "  username: gate\n", "  username: gate\n  projectListInterval: hourly\n", "gerritgate.yaml:6:24: gerrit.projectListInterval must be a duration"},
		{"fetch timeout not a duration", "  username: gate\n", "  username: gate\n  fetchTimeout: soon\n", "gerritgate.yaml:6:17: gerrit.fetchTimeout must be a duration"},
		{"password in an unparsable url", "url: http://127.0.0.1:8081", `url: "https://gate:Sup3rS3cret%zz@gerrit.example"`, "gerrit.url must be an http(s) URL"},
		{"clone bound", "policy:", "maxConcurrentClones: -1\npolicy:", "maxConcurrentClones must be between 1 and 10000"},
		{"reader share above the bound", "policy:", "maxConcurrentClones: 4\nmaxClonesPerReader: 5\npolicy:", "gerritgate.yaml:10:21: maxClonesPerReader must be between 1 and 4, got 5"},
		{"address share negative", "policy:", "maxClonesPerAddress: -2\npolicy:", "gerritgate.yaml:9:22: maxClonesPerAddress must be between 1 and 32, got -2"},
		{"connections per address", "policy:", "maxConnectionsPerAddress: 2000\npolicy:", "gerritgate.yaml:9:27: maxConnectionsPerAddress must be between 1 and 1024, got 2000"},
		{"idle timeout", "  listen: 127.0.0.1:8080\n", "  listen: 127.0.0.1:8080\n  idleTimeout: forever\n", "gerritgate.yaml:9:16: http.idleTimeout must be a duration of at least 10ms (e.g. 60s), got \"forever\""},
		{"body bound above the buffer", "  listen: 127.0.0.1:8080\n", "  listen: 127.0.0.1:8080\n  maxRequestBodyKiB: 8\n  maxBufferedKiB: 4\n", "gerritgate.yaml:10:19: http.maxBufferedKiB (4) must be at least 4 x (http.maxRequestBodyKiB + 16) = 96"},
		{"events url not ssh", "  username: gate\n", "  username: gate\n  eventsURL: http://x\n", "gerritgate.yaml:6:14: gerrit.eventsURL must be ssh://user@host:port"},
		{"events url without key", "  username: gate\n", "  username: gate\n  eventsURL: ssh://gate@x:29418\n", "needs gerrit.sshKeyFile and gerrit.knownHostsFile"},
		{"per-address bound", "policy:", "maxConnectionsPerAddress: 5000\npolicy:", "maxConnectionsPerAddress must be between 1 and 1024"},
		{"ssh handshake timeout", "policy:", "ssh:\n  handshakeTimeout: 1ms\npolicy:", "gerritgate.yaml:10:21: ssh.handshakeTimeout must be a duration of at least 100ms"},
		{"ssh idle timeout", "policy:", "ssh:\n  idleTimeout: never\npolicy:", "gerritgate.yaml:10:16: ssh.idleTimeout must be a duration"},
		{"ssh failed logins", "policy:", "ssh:\n  maxFailedLogins: -3\npolicy:", "ssh.maxFailedLogins must be between 1 and 1000"},
		{"pack cache bound", "policy:", "packCache:\n  maxMiB: -1\npolicy:", "gerritgate.yaml:10:11: packCache.maxMiB must be between 1 and 16777216, got -1"},
		{"pack cache unknown key", "policy:", "packCache:\n  dir: /tmp\npolicy:", `gerritgate.yaml:10:3: unknown field "dir"`},
		{"no policy", "policy: ./policy.yaml\n", "", "policy is required: a local file's path, or {project, branch, path}"},
	}
	for _, tt := range tests {
		src := strings.Replace(goodConfig, tt.from, tt.to, 1)
		if src == goodConfig {
			t.Fatalf("%s: replacement did not apply", tt.what)
		}
		_, err := ParseConfig("gerritgate.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.what, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "Sup3rS3cret") {
			t.Errorf("%s: error repeats a password: %v", tt.what, err)
		}
	}
}

// A quarter of http.maxBufferedKiB (one reader's or address's share) must
// hold a whole request body and the 16 KiB chunk read past it.
func TestParseConfigBodyShare(t *testing.T) {
	tests := []struct {
		what, http string
		wantErr    string // "" for a config that loads
	}{
		{"defaults", "", ""},
		{"share exactly a body and a chunk", "  maxRequestBodyKiB: 4096\n  maxBufferedKiB: 16448\n", ""},
		{"share a KiB short", "  maxRequestBodyKiB: 4096\n  maxBufferedKiB: 16447\n",
			"gerritgate.yaml:10:19: http.maxBufferedKiB (16447) must be at least 4 x (http.maxRequestBodyKiB + 16) = 16448"},
		{"share holds the body but not the chunk", "  maxRequestBodyKiB: 64\n  maxBufferedKiB: 256\n",
			"gerritgate.yaml:10:19: http.maxBufferedKiB (256) must be at least 4 x (http.maxRequestBodyKiB + 16) = 320"},
		{"buffer the size of one body", "  maxRequestBodyKiB: 8\n  maxBufferedKiB: 8\n",
			"gerritgate.yaml:10:19: http.maxBufferedKiB (8) must be at least 4 x (http.maxRequestBodyKiB + 16) = 96"},
		{"body above a share of the default buffer", "  maxRequestBodyKiB: 16384\n",
			"gerritgate.yaml:9:22: http.maxBufferedKiB (65536) must be at least 4 x (http.maxRequestBodyKiB + 16) = 65600"},
		{"buffer raised with the body", "  maxRequestBodyKiB: 16384\n  maxBufferedKiB: 65600\n", ""},
	}
	for _, tt := range tests {
		src := strings.Replace(goodConfig, "  listen: 127.0.0.1:8080\n", "  listen: 127.0.0.1:8080\n"+tt.http, 1)
		_, err := ParseConfig("gerritgate.yaml", []byte(src))
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v, want it to load", tt.what, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: err = %v, want %q", tt.what, err, tt.wantErr)
		}
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), mode)
		os.Chmod(p, mode)
		return p
	}
	tests := []struct {
		what    string
		path    string
		want    string
		wantErr string
	}{
		{"trailing newline dropped", write("a", "s3cret\n", 0o600), "s3cret", ""},
		{"CRLF dropped", write("b", "s3cret\r\n", 0o400), "s3cret", ""},
		{"empty", write("c", "\n", 0o600), "", "is empty"},
		{"world-writable", write("d", "x", 0o666), "", "world-writable"},
		{"missing", filepath.Join(dir, "nope"), "", "no such file"},
	}
	for _, tt := range tests {
		got, err := readSecret(tt.path)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want %q", tt.what, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("%s: error leaks the secret", tt.what)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.what, got, err, tt.want)
		}
	}
}

func TestAuditSigner(t *testing.T) {
	dir := t.TempDir()
	priv, pub, err := audit.NewKey("t", "t@example.com")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), mode)
		os.Chmod(p, mode)
		return p
	}
	tests := []struct {
		what, path, wantErr string
	}{
		{"a private key readable by its owner", write("ok.asc", priv, 0o600), ""},
		{"readable by everyone", write("open.asc", priv, 0o644), "readable or writable by everyone"},
		{"a public key", write("pub.asc", pub, 0o600), "holds a public key only"},
		{"not a key", write("junk.asc", "hello", 0o600), "not an armored OpenPGP key"},
		{"missing", filepath.Join(dir, "nope.asc"), "no such file"},
	}
	for _, tt := range tests {
		s, err := auditSigner(&Config{Audit: AuditConfig{SigningKey: tt.path}})
		if tt.wantErr == "" {
			if err != nil || s == nil {
				t.Errorf("%s: %v", tt.what, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want %q", tt.what, err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: error repeats the key: %v", tt.what, err)
		}
	}
	if s, err := auditSigner(&Config{}); s != nil || err != nil {
		t.Errorf("no signing key configured: %v, %v; want none and no error", s, err)
	}
}
