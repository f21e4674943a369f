package redact

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	const pw = "Sup3r-s3cret!pw"
	basic := base64.StdEncoding.EncodeToString([]byte("gate:" + pw))
	secrets := NewSecrets("gate", pw, "tok_abcdef")
	tests := []struct {
		name string
		in   string
		max  int
		want string   // exact, when set
		gone []string // must not appear
		kept []string // must still appear
	}{
		{name: "echoed Basic header", in: "bad request\nAuthorization: Basic " + basic + "\nAccept: application/json", max: 200,
			gone: []string{basic, pw}, kept: []string{"bad request", "Authorization: " + Mask, "Accept: application/json"}},
		{name: "Basic token without header name", in: "got Basic " + basic + " from you", max: 200, gone: []string{basic}},
		{name: "bearer token", in: "token Bearer abcDEF123456ghiJKL rejected", max: 200, gone: []string{"abcDEF123456ghiJKL"}, kept: []string{"rejected"}},
		{name: "raw password", in: "password " + pw + " is wrong", max: 200, gone: []string{pw}},
		{name: "password percent-encoded in a URL", in: "fetch https://gate:Sup3r-s3cret%21pw@gerrit/a/p failed", max: 200,
			gone: []string{"Sup3r-s3cret%21pw", "gate:"}, kept: []string{"https://" + Mask + "@gerrit/a/p"}},
		{name: "userinfo in a URL", in: "remote https://alice:hunter22@example.org/x", max: 200, gone: []string{"hunter22", "alice"}},
		{name: "cookie", in: "Cookie: GerritAccount=aSceprtBc7w", max: 200, gone: []string{"aSceprtBc7w"}},
		{name: "query secret", in: "GET /a/x?password=letmein&n=1", max: 200, gone: []string{"letmein"}, kept: []string{"n=1"}},
		{name: "other token", in: "x-gerrit-auth: q1w2e3r4t5", max: 200, gone: []string{"q1w2e3r4t5"}},
		{name: "known extra secret", in: "unknown tok_abcdef here", max: 200, gone: []string{"tok_abcdef"}},
		{name: "long base64 run", in: "blob dGhpcyBpcyBhIHNlY3JldCB2YWx1ZTEyMw== end", max: 200, gone: []string{"dGhpcyBpcyBhIHNlY3JldCB2YWx1ZTEyMw"}},
		{name: "commit SHA and path kept", in: "commit 89e6c98d92887913cadf06b2adb97f26cde4849b not in refs/heads/some-long-branch-name-here", max: 200,
			want: "commit 89e6c98d92887913cadf06b2adb97f26cde4849b not in refs/heads/some-long-branch-name-here"},
		{name: "control characters", in: "a\x1b[31mb\x00c\r\nd", max: 200, want: "a [31mb c  d"},
		{name: "bounded on a rune", in: strings.Repeat("é", 150), max: 201, want: strings.Repeat("é", 100) + "..."},
		{name: "invalid UTF-8", in: "a\xffb", max: 200, want: "a?b"},
		{name: "plain text untouched", in: "Not found: platform/fleet", max: 200, want: "Not found: platform/fleet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Text(tt.in, tt.max, secrets)
			if tt.want != "" && got != tt.want {
				t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(got) > tt.max+3 {
				t.Errorf("Text(%q) is %d bytes, want at most %d", tt.in, len(got), tt.max+3)
			}
			for _, g := range tt.gone {
				if strings.Contains(got, g) {
					t.Errorf("Text(%q) = %q still holds %q", tt.in, got, g)
				}
			}
			for _, k := range tt.kept {
				if !strings.Contains(got, k) {
					t.Errorf("Text(%q) = %q lost %q", tt.in, got, k)
				}
			}
		})
	}
}

func TestTail(t *testing.T) {
	in := "WARNING: " + strings.Repeat("@", 300) + " Authorization: Basic Z2F0ZTpzZWNyZXQ=\nHost key verification failed.\nfatal: Could not read from remote repository."
	got := Tail(in, 100, nil)
	if !strings.HasSuffix(got, "Host key verification failed. fatal: Could not read from remote repository.") || !strings.HasPrefix(got, "...") {
		t.Errorf("Tail kept %q, want the last lines", got)
	}
	if strings.Contains(got, "Z2F0ZTpzZWNyZXQ") || len(got) > 103 {
		t.Errorf("Tail = %q: want it redacted and bounded", got)
	}
	if got := Tail(strings.Repeat("é", 150), 201, nil); got != "..."+strings.Repeat("é", 100) {
		t.Errorf("Tail cut a rune: %q", got)
	}
}

func TestErr(t *testing.T) {
	if Err(nil, 10, nil) != nil {
		t.Error("Err(nil) is not nil")
	}
	inner := &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist}
	err := Err(errors.Join(inner, errors.New("Authorization: Basic Z2F0ZTpzZWNyZXQ=")), 200, nil)
	if strings.Contains(err.Error(), "Z2F0ZTpzZWNyZXQ") {
		t.Errorf("Err kept the credential: %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Err broke errors.Is: %v", err)
	}
}

// Only the first inputLimit(max) bytes of a peer's text are cleaned (the
// regular expressions would run over megabytes otherwise), cut at a space
// so a credential the cut falls in is dropped whole, never shown in part;
// Tail likewise keeps the last ones.
func TestInputBound(t *testing.T) {
	const pw = "Sup3r-s3cret!pw"
	secrets := NewSecrets("gate", pw)
	const shown = 100000
	lim := inputLimit(shown)
	// Encoded-looking runs shrink to Mask, so what is kept of the input
	// fits in what is shown, and the place of the cut shows.
	run := strings.Repeat("aB3", 400) + " "
	filler := func(n int) string {
		s := strings.Repeat(run, n/len(run))
		return s + strings.Repeat("x", n-len(s)-1) + " "
	}
	// The bound falls 4 bytes into the password.
	head := filler(lim-4) + pw + " beyond the bound"
	got := Text(head, shown, secrets)
	if strings.Contains(got, "Sup3") || strings.Contains(got, "beyond the bound") {
		t.Errorf("Text kept what lies past the input bound (%d bytes): ...%q", lim, got[max(0, len(got)-60):])
	}
	if !strings.HasSuffix(got, "...") {
		t.Errorf("Text of a cut input does not end with ...: %q", got[max(0, len(got)-60):])
	}
	tail := "before the bound " + pw + " " + filler(lim-5)
	got = Tail(tail, shown, secrets)
	if strings.Contains(got, "t!pw") || strings.Contains(got, "before the bound") || !strings.HasPrefix(got, "...") {
		t.Errorf("Tail kept what lies before the input bound: %q...", got[:min(60, len(got))])
	}
}
