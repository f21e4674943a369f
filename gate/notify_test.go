package gate

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseNotify(t *testing.T) {
	const notify = "        baseline: upstream\n        notify:\n          - url: https://flux.example/hook/abc\n            type: generic-hmac\n            tokenFile: secrets/flux-token\n          - url: http://flux.example:9292/hook/def\n            type: generic\n"
	src := strings.Replace(goodPolicy, "        baseline: upstream\n", notify, 1)
	c, err := ParsePolicy(filepath.Join("/etc/gerritgate", "policy.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Receiver{
		{URL: "https://flux.example/hook/abc", Type: ReceiverGenericHMAC, TokenFile: "/etc/gerritgate/secrets/flux-token"},
		{URL: "http://flux.example:9292/hook/def", Type: ReceiverGeneric},
	}
	got := c.Repos[0].Environments[0].Notify
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("notify = %+v, want %+v (token file relative to the policy file)", got, want)
	}
}

func TestParseNotifyErrors(t *testing.T) {
	const entry = "        baseline: upstream\n        notify:\n          - url: https://flux.example/hook/abc\n            type: generic-hmac\n            tokenFile: token\n"
	tests := []struct {
		what     string
		from, to string // replaced in entry
		want     string
	}{
		{"not http", "https://flux.example/hook/abc", "ftp://flux.example/x", "policy.yaml:9:18: notify url must be an http or https URL"},
		{"no host", "https://flux.example/hook/abc", "https:///hook", "notify url must be an http or https URL"},
		{"password in URL", "https://flux.example/hook/abc", "https://u:pw@flux.example/hook", "must not hold a user or password"},
		{"unknown type", "type: generic-hmac", "type: github", `policy.yaml:10:19: notify type must be "generic" or "generic-hmac", got "github"`},
		{"hmac without token", "            tokenFile: token\n", "", "policy.yaml:9:16: a generic-hmac receiver needs tokenFile"},
		{"generic with token", "type: generic-hmac", "type: generic", "a generic receiver sends no token"},
		{"unknown key", "            tokenFile: token\n", "            tokenFile: token\n            token: abc\n", `unknown field "token"`},
		{"twice", "            tokenFile: token\n", "            tokenFile: token\n          - url: https://flux.example/hook/abc\n            type: generic\n", "the same receiver is notified twice"},
	}
	for _, tt := range tests {
		e := strings.Replace(entry, tt.from, tt.to, 1)
		if e == entry {
			t.Fatalf("%s: replacement did not apply", tt.what)
		}
		_, err := ParsePolicy("policy.yaml", []byte(strings.Replace(goodPolicy, "        baseline: upstream\n", e, 1)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.what, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("%s: the error shows the URL's password: %v", tt.what, err)
		}
	}
}
