package access

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gerritgate/gerritgate/internal/yamlfile"
	"github.com/gerritgate/gerritgate/storage"
)

// newKey returns a fresh ed25519 public key and its authorized_keys line.
func newKey(t *testing.T) (ssh.PublicKey, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " test@example"
}

func authorizedLine(t *testing.T, pub any) string {
	t.Helper()
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

const secret = "s3cr3t-plaintext-token-value"

func TestParseErrors(t *testing.T) {
	_, key := newKey(t)
	rsaSmall, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	short := authorizedLine(t, &rsaSmall.PublicKey)
	hash := HashToken("x")
	tests := []struct {
		what      string
		in        string
		line, col int
		msg       string
	}{
		{"unknown key", "readers:\n  - name: a\n    token: [x]\n", 3, 5, `unknown field "token"`},
		{"unknown top-level key", "reader: []\n", 1, 1, `unknown field "reader"`},
		{"duplicate key", "readers:\n  - name: a\n    name: b\n", 3, 5, "already defined"},
		{"duplicate reader", "readers:\n  - name: a\n  - name: a\n", 3, 11, `reader "a" is defined twice`},
		{"no name", "readers:\n  - projects: [x]\n", 2, 13, "no name"},
		{"bad name", "readers:\n  - name: \"a b\"\n", 2, 11, "reader name"},
		{"reserved name", "readers:\n  - name: anonymous\n", 2, 11, "reserved"},
		{"plaintext token", "readers:\n  - name: a\n    tokens: [" + secret + "]\n", 3, 14, "plaintext token: store only its hash"},
		{"short hash", "readers:\n  - name: a\n    tokens: [\"sha256:abcd\"]\n", 3, 14, "sha256:<64 hex digits>"},
		{"non-hex hash", "readers:\n  - name: a\n    tokens: [\"sha256:" + strings.Repeat("g", 64) + "\"]\n", 3, 14, "sha256:<64 hex digits>"},
		{"token twice", "readers:\n  - name: a\n    tokens: [\"" + hash + "\"]\n  - name: b\n    tokens: [\"" + hash + "\"]\n", 5, 14, `already given to reader "a"`},
		{"bad key", "readers:\n  - name: a\n    sshKeys: [\"ssh-ed25519 AAAAnotbase64!!\"]\n", 3, 15, "not an ssh public key"},
		{"key options", "readers:\n  - name: a\n    sshKeys: ['from=\"10.0.0.1\" " + key + "']\n", 3, 15, "options are not supported"},
		{"two keys", "readers:\n  - name: a\n    sshKeys: [\"" + key + "\\n" + key + "\"]\n", 3, 15, "one ssh key per list entry"},
		{"key twice", "readers:\n  - name: a\n    sshKeys: [\"" + key + "\"]\n  - name: b\n    sshKeys: [\"" + key + "\"]\n", 5, 15, `already given to reader "a"`},
		{"short rsa key", "readers:\n  - name: a\n    sshKeys: [\"" + short + "\"]\n", 3, 15, "1024 bits is too short"},
		{"bad glob", "readers:\n  - name: a\n    projects: [\"platform/[\"]\n", 3, 16, "syntax error in pattern"},
		{"empty glob", "readers:\n  - name: a\n    projects: [\"\"]\n", 3, 16, "empty project pattern"},
		{"absolute glob", "readers:\n  - name: a\n    projects: [\"/platform/*\"]\n", 3, 16, "leading or trailing slash"},
		{"gerrit binding: both", "readers:\n  - name: a\n    gerrit: {account: x, group: y}\n", 3, 13, "account or group, not both"},
		{"gerrit binding: neither", "readers:\n  - name: a\n    gerrit: {}\n", 3, 13, "needs account:"},
		{"gerrit binding: no value", "readers:\n  - name: a\n    gerrit:\n", 3, 13, "gerrit: has no value"},
		{"gerrit binding: null", "readers:\n  - name: a\n    gerrit: ~\n", 3, 13, "gerrit: has no value"},
		{"gerrit binding: unknown key", "readers:\n  - name: a\n    gerrit: {user: x}\n", 3, 14, `unknown field "user"`},
		{"gerrit binding: not a map", "readers:\n  - name: a\n    gerrit: flux\n", 3, 13, "mapping is expected"},
		{"gerrit binding: control character", "readers:\n  - name: a\n    gerrit: {account: \"fl\\nux\"}\n", 3, 13, "not an account or group name"},
		{"gerrit binding: surrounding space", "readers:\n  - name: a\n    gerrit: {group: \" ops\"}\n", 3, 13, "not an account or group name"},
		{"bad anonymous glob", "anonymous: [\"[\"]\n", 1, 13, "syntax error in pattern"},
		{"bad expiry", "readers:\n  - name: a\n    expires: next year\n", 3, 14, "RFC 3339"},
		{"wrong type", "readers:\n  - name: a\n    tokens: " + secret + "\n", 3, 13, "sequence is expected"},
		{"empty file", "\n", 0, 0, "empty"},
		{"plaintext metrics token", "metrics:\n  tokens: [" + secret + "]\n", 2, 12, "plaintext token: store only its hash"},
		{"metrics token of a reader", "readers:\n  - name: a\n    tokens: [\"" + hash + "\"]\nmetrics:\n  tokens: [\"" + hash + "\"]\n", 5, 12, `token hash is reader "a"'s: give metrics a token of its own`},
		{"unknown metrics key", "metrics:\n  token: [x]\n", 2, 3, `unknown field "token"`},
		{"no environment", "readers:\n  - name: a\n    environments: []\n", 3, 19, "grants no environment"},
		{"environments without a value", "readers:\n  - name: a\n    projects: [x]\n    environments:\n", 4, 19, "has no value"},
		{"environments null", "readers:\n  - name: a\n    environments: ~\n", 3, 19, "has no value"},
		{"bad environment", "readers:\n  - name: a\n    environments: [staging, Prod]\n", 3, 29, `environment "Prod": lower case`},
		{"environment path", "readers:\n  - name: a\n    environments: [\"../x\"]\n", 3, 20, `environment "../x"`},
		{"environment twice", "readers:\n  - name: a\n    environments: [prod, prod]\n", 3, 26, `environment "prod" is listed twice`},
		{"environments not a list", "readers:\n  - name: a\n    environments: prod\n", 3, 19, "sequence is expected"},
	}
	for _, tt := range tests {
		_, err := Parse("access.yaml", []byte(tt.in))
		if err == nil {
			t.Errorf("%s: Parse succeeded, want an error", tt.what)
			continue
		}
		var e *yamlfile.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: err = %v (%T), want a *yamlfile.Error", tt.what, err, err)
			continue
		}
		if e.Line != tt.line || e.Column != tt.col {
			t.Errorf("%s: error at %d:%d, want %d:%d (%v)", tt.what, e.Line, e.Column, tt.line, tt.col, err)
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: %q does not say %q", tt.what, err, tt.msg)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), strings.Fields(key)[1]) {
			t.Errorf("%s: error shows a secret or key: %q", tt.what, err)
		}
		if !strings.HasPrefix(err.Error(), "access.yaml") {
			t.Errorf("%s: error %q does not name the file", tt.what, err)
		}
	}
}

func TestParseAllErrors(t *testing.T) {
	in := "readers:\n  - name: a\n    tokens: [x]\n    projects: [\"[\"]\n"
	_, err := Parse("access.yaml", []byte(in))
	for _, want := range []string{"access.yaml:3:14: ", "access.yaml:4:16: "} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse error %q does not report %q", err, want)
		}
	}
}

func TestParseValid(t *testing.T) {
	_, key := newKey(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	in := fmt.Sprintf(`readers:
  - name: flux-prod
    projects: ["platform/*"]
    sshKeys: [%q, %q, %q]
    tokens: [%q]
    expires: 2027-01-01T00:00:00Z
  - name: auditors
    projects: ["*"]
    expires: 2027-01-01
  - name: nobody
anonymous: ["public/*"]
`, key, authorizedLine(t, &ec.PublicKey), authorizedLine(t, &rsaKey.PublicKey), "sha256:"+strings.ToUpper(strings.TrimPrefix(HashToken("t"), "sha256:")))
	l, err := Parse("access.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(l.Readers(), ","), "flux-prod,auditors,nobody"; got != want {
		t.Errorf("Readers() = %s, want %s", got, want)
	}
	if r, ok := l.AuthorizeToken("t"); !ok || r != "flux-prod" {
		t.Errorf("upper-case hex hash: AuthorizeToken = %q, %v", r, ok)
	}
	if got := l.readers[1].expires; !got.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("date-only expiry parsed as %v", got)
	}
}

func TestCanRead(t *testing.T) {
	in := `readers:
  - name: flux-prod
    projects: ["platform/*", "apps/web"]
  - name: auditors
    projects: ["*"]
  - name: everything
    projects: ["**"]
  - name: nobody
anonymous: ["public/*"]
`
	l, err := Parse("access.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		reader, project string
		want            bool
	}{
		{"flux-prod", "platform/fleet", true},
		{"flux-prod", "platform/fleet/sub", false}, // * stops at a slash
		{"flux-prod", "platform", false},
		{"flux-prod", "apps/web", true},
		{"flux-prod", "apps/webx", false},
		{"flux-prod", "other/x", false},
		{"flux-prod", "public/docs", true}, // anonymous projects are open to readers too
		{"auditors", "a/b/c", false},       // "*" is top-level projects only (internal/projectglob)
		{"auditors", "x", true},
		{"everything", "a/b/c", true}, // "**" is every project
		{"everything", "x", true},
		{"everything", "a/../b", false},
		{"nobody", "platform/fleet", false},
		{"nobody", "public/docs", true},
		{"unknown", "public/docs", false},
		{"unknown", "platform/fleet", false},
		{Anonymous, "public/docs", true},
		{Anonymous, "platform/fleet", false},
		{"", "public/docs", false},
		{"auditors", "platform/../secret", false},
		{"auditors", "../secret", false},
		{"auditors", "/etc/passwd", false},
		{"auditors", "platform//fleet", false},
		{"auditors", "", false},
		{"flux-prod", "platform/..", false},
	}
	for _, tt := range tests {
		if got := l.CanRead(tt.reader, tt.project); got != tt.want {
			t.Errorf("CanRead(%q, %q) = %v, want %v", tt.reader, tt.project, got, tt.want)
		}
	}
	for project, want := range map[string]bool{"public/docs": true, "public": false, "platform/fleet": false} {
		if got := l.Anonymous(project); got != want {
			t.Errorf("Anonymous(%q) = %v, want %v", project, got, want)
		}
	}
}

func TestEnvironments(t *testing.T) {
	in := `readers:
  - name: flux-staging
    projects: ["platform/*"]
    environments: [staging]
  - name: flux-prod
    projects: ["platform/*"]
    environments: [prod]
  - name: both
    projects: ["platform/*"]
    environments: [staging, prod]
  - name: ops
    projects: ["**"]
  - name: gone
    projects: ["**"]
    environments: [prod]
    expires: 2020-01-01T00:00:00Z
anonymous: ["public/*"]
`
	l, err := Parse("access.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	all := storage.Grant{All: true}
	tests := []struct {
		reader, project string
		want            storage.Grant
	}{
		{"flux-staging", "platform/fleet", storage.Grant{Envs: []string{"staging"}}},
		{"flux-prod", "platform/fleet", storage.Grant{Envs: []string{"prod"}}},
		{"both", "platform/fleet", storage.Grant{Envs: []string{"staging", "prod"}}},
		{"ops", "platform/fleet", all},                 // no environments: key: every one
		{"flux-staging", "public/docs", all},           // anonymous projects are whole
		{"flux-staging", "apps/web", storage.Grant{}},  // not its project: nothing
		{"gone", "platform/fleet", storage.Grant{}},    // expired
		{"unknown", "platform/fleet", storage.Grant{}}, // unknown reader
		{Anonymous, "public/docs", all},                // anonymous
		{Anonymous, "platform/fleet", storage.Grant{}}, // anonymous, private project
		{"flux-staging", "platform/../x", storage.Grant{}},
	}
	for _, tt := range tests {
		got := l.Environments(tt.reader, tt.project)
		if got.All != tt.want.All || !slices.Equal(got.Envs, tt.want.Envs) {
			t.Errorf("Environments(%q, %q) = %+v, want %+v", tt.reader, tt.project, got, tt.want)
		}
	}
	for _, tt := range []struct {
		reader, env string
		want        bool
	}{
		{"flux-staging", "staging", true}, {"flux-staging", "prod", false},
		{"flux-prod", "prod", true}, {"flux-prod", "staging", false},
		{"ops", "prod", true}, {"gone", "prod", false},
	} {
		if got := l.CanReadEnv(tt.reader, "platform/fleet", tt.env); got != tt.want {
			t.Errorf("CanReadEnv(%q, platform/fleet, %q) = %v, want %v", tt.reader, tt.env, got, tt.want)
		}
	}
}

func TestNothingReadableByDefault(t *testing.T) {
	l, err := Parse("access.yaml", []byte("readers: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Anonymous("x") || l.CanRead(Anonymous, "x") {
		t.Error("an empty list lets someone read x")
	}
}

func TestAuthorize(t *testing.T) {
	k1, line1 := newKey(t)
	k2, line2 := newKey(t)
	stranger, _ := newKey(t)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	in := fmt.Sprintf(`readers:
  - name: flux-prod
    projects: ["platform/*"]
    sshKeys: [%q]
    tokens: [%q, %q]
  - name: contractor
    projects: ["platform/*"]
    sshKeys: [%q]
    tokens: [%q]
    expires: 2026-07-01T00:00:00Z
`, line1, HashToken("tok-a"), HashToken("tok-b"), line2, HashToken("tok-c"))
	l, err := Parse("access.yaml", []byte(in), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	type check struct {
		what   string
		reader string
		ok     bool
		got    func() (string, bool)
	}
	checks := func() []check {
		return []check{
			{"first token", "flux-prod", true, func() (string, bool) { return l.AuthorizeToken("tok-a") }},
			{"second token", "flux-prod", true, func() (string, bool) { return l.AuthorizeToken("tok-b") }},
			{"other reader's token", "contractor", true, func() (string, bool) { return l.AuthorizeToken("tok-c") }},
			{"wrong token", "", false, func() (string, bool) { return l.AuthorizeToken("tok-d") }},
			{"empty token", "", false, func() (string, bool) { return l.AuthorizeToken("") }},
			{"hash as token", "", false, func() (string, bool) { return l.AuthorizeToken(HashToken("tok-a")) }},
			{"key", "flux-prod", true, func() (string, bool) { return l.AuthorizeKey(k1) }},
			{"other key", "contractor", true, func() (string, bool) { return l.AuthorizeKey(k2) }},
			{"unknown key", "", false, func() (string, bool) { return l.AuthorizeKey(stranger) }},
			{"nil key", "", false, func() (string, bool) { return l.AuthorizeKey(nil) }},
		}
	}
	for _, c := range checks() {
		if r, ok := c.got(); r != c.reader || ok != c.ok {
			t.Errorf("before expiry, %s: got %q, %v; want %q, %v", c.what, r, ok, c.reader, c.ok)
		}
	}
	if !l.CanRead("contractor", "platform/fleet") {
		t.Error("contractor cannot read before expiry")
	}

	now = time.Date(2026, 7, 1, 0, 0, 1, 0, time.UTC) // the clock is read at use time
	for _, c := range checks() {
		if c.reader == "contractor" {
			c.reader, c.ok = "", false
		}
		if r, ok := c.got(); r != c.reader || ok != c.ok {
			t.Errorf("after expiry, %s: got %q, %v; want %q, %v", c.what, r, ok, c.reader, c.ok)
		}
	}
	if l.CanRead("contractor", "platform/fleet") {
		t.Error("contractor can still read after expiry")
	}
}

func TestNewToken(t *testing.T) {
	tok, hashed, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 43 || strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q is not 32 bytes of unpadded URL-safe base64", tok)
	}
	if hashed != HashToken(tok) || !strings.HasPrefix(hashed, "sha256:") || len(hashed) != 7+64 {
		t.Errorf("hashed = %q", hashed)
	}
	other, _, _ := NewToken()
	if other == tok {
		t.Error("two tokens are equal")
	}
	l, err := Parse("access.yaml", []byte("readers:\n  - name: a\n    tokens: [\""+hashed+"\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := l.AuthorizeToken(tok); !ok || r != "a" {
		t.Errorf("a new token's hash line does not authorize it: %q, %v", r, ok)
	}
}
