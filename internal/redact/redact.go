// Package redact makes text that came from a peer (Gerrit's error bodies,
// git's stderr, a library's error that quotes them) fit to be shown: in a
// log line, on the status page, in the API. It bounds the text and strips
// what looks like a credential or an HTTP header, and every occurrence of
// the secrets the caller names.
//
// It must never return the text it was given when that text holds a
// secret it was told about, in any of the encodings a peer could echo
// (as is, base64 in a Basic header, percent-encoded in a URL).
package redact

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mask replaces whatever was redacted.
const Mask = "[redacted]"

// Secrets are the exact values a caller knows must never be shown. Build
// them once with NewSecrets.
type Secrets struct{ values []string }

// NewSecrets returns the secrets to scrub for an HTTP Basic credential
// user:password (the password, and user:password in base64, as a Basic
// header carries it) and for any further raw secret (tokens). Empty values
// are ignored.
func NewSecrets(user, password string, more ...string) *Secrets {
	s := &Secrets{}
	add := func(v string) {
		if len(v) >= 4 { // shorter would mask common words, and hides nothing
			s.values = append(s.values, v)
		}
	}
	for _, v := range append([]string{password}, more...) {
		if v == "" {
			continue
		}
		add(v)
		add(url.QueryEscape(v))
		add(url.PathEscape(v))
		add(base64.StdEncoding.EncodeToString([]byte(v)))
	}
	if password != "" {
		add(base64.StdEncoding.EncodeToString([]byte(user + ":" + password)))
	}
	return s
}

var patterns = []struct {
	re   *regexp.Regexp
	repl string
}{
	// Headers that carry credentials, to the end of their line.
	{regexp.MustCompile(`(?im)\b(authorization|proxy-authorization|cookie|set-cookie|x-[a-z0-9-]*(?:token|key|auth)[a-z0-9-]*|www-authenticate)\s*:[^\r\n]*`), "$1: " + Mask},
	// user:password@ (or token@) in a URL.
	{regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@`), "${1}" + Mask + "@"},
	// password=..., token: ..., in a query or a config dump.
	{regexp.MustCompile(`(?i)\b(pass(?:word|wd)?|pwd|secret|token|api[_-]?key|access[_-]?key|auth)\s*([=:])\s*[^\s&;,"']+`), "$1$2" + Mask},
}

// scheme is an authentication scheme, which a credential follows.
var scheme = regexp.MustCompile(`(?i)\b(basic|bearer|token|digest|negotiate)\s+`)

func isScheme(w string) bool {
	for _, n := range []string{"basic", "bearer", "token", "digest", "negotiate"} {
		if strings.EqualFold(w, n) {
			return true
		}
	}
	return false
}

// credChars are the characters of a credential after a scheme.
const credChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=._~:-"

// maskAfterSchemes masks the word after each scheme name ("Basic xyz",
// "token Bearer xyz": the word after "token" is a scheme itself, so the
// mask goes on the one after it).
func maskAfterSchemes(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range scheme.FindAllStringIndex(s, -1) {
		if m[0] < last {
			continue
		}
		end := m[1]
		for end < len(s) && strings.IndexByte(credChars, s[end]) >= 0 {
			end++
		}
		word := s[m[1]:end]
		if len(word) < 6 || isScheme(word) {
			continue
		}
		b.WriteString(s[last:m[1]])
		b.WriteString(Mask)
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

// longRun is a run that may be an encoded secret (base64, a token).
var longRun = regexp.MustCompile(`[A-Za-z0-9+/_=-]{24,}`)

// Text returns s bounded to max bytes (cut on a rune boundary, "..."
// added; only its first inputLimit(max) bytes are read), with control characters turned into spaces, headers and
// credential-like strings masked, and every secret in secrets (may be nil)
// replaced by Mask.
func Text(s string, max int, secrets *Secrets) string {
	if lim := inputLimit(max); len(s) > lim {
		// Cut after the last space within the limit, so no word (a
		// credential) is cut in two and shown in part (none: the cut
		// word goes whole).
		s = s[:lim]
		s = s[:strings.LastIndexFunc(s, unicode.IsSpace)+1] + "..."
	}
	s = clean(s, secrets)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// Tail is Text keeping the end of s rather than its start ("..." first),
// for a program's stderr, whose last lines say what failed.
func Tail(s string, max int, secrets *Secrets) string {
	if lim := inputLimit(max); len(s) > lim {
		// Cut before the first space within the limit (none: the cut
		// word goes whole).
		s = s[len(s)-lim:]
		if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
			s = "..." + s[i:]
		} else {
			s = "..."
		}
	}
	s = clean(s, secrets)
	if len(s) <= max {
		return s
	}
	cut := len(s) - max
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return "..." + s[cut:]
}

// inputLimit bounds what is cleaned of a text shown at most max bytes:
// the regular expressions run over all of it, and a peer's text can be
// megabytes.
func inputLimit(max int) int { return 4*max + 4<<10 }

func clean(s string, secrets *Secrets) string {
	s = strings.ToValidUTF8(s, "?")
	if secrets != nil {
		for _, v := range secrets.values {
			s = strings.ReplaceAll(s, v, Mask)
		}
	}
	for _, p := range patterns {
		s = p.re.ReplaceAllString(s, p.repl)
	}
	s = maskAfterSchemes(s)
	s = longRun.ReplaceAllStringFunc(s, func(run string) string {
		if looksEncoded(run) {
			return Mask
		}
		return run
	})
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// looksEncoded says whether a long run looks like random bytes encoded
// (upper, lower and digits mixed) rather than a word, a path or a commit
// SHA (lower-case hex), which stay readable.
func looksEncoded(run string) bool {
	var upper, lower, digit bool
	for _, r := range run {
		switch {
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= '0' && r <= '9':
			digit = true
		}
	}
	return upper && lower && digit
}

// Error is an error whose text is redacted; Unwrap gives the original for
// errors.Is and errors.As, never for display.
type Error struct {
	text string
	err  error
}

// Err returns err with its text redacted and bounded to max bytes (nil for
// nil).
func Err(err error, max int, secrets *Secrets) error {
	if err == nil {
		return nil
	}
	return &Error{text: Text(err.Error(), max, secrets), err: err}
}

func (e *Error) Error() string { return e.text }
func (e *Error) Unwrap() error { return e.err }
