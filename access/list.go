package access

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gerritgate/gerritgate/internal/projectglob"
	"github.com/gerritgate/gerritgate/internal/yamlfile"
	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/githttp"
)

// Anonymous is the reader name given to a request without (valid)
// credentials for a project listed under anonymous. No reader may take it.
const Anonymous = githttp.Anonymous

// List is one loaded access file. It is immutable and safe for concurrent
// use; a reload makes a new List.
type List struct {
	readers   []reader
	byName    map[string]int
	anonymous []string
	tokens    []tokenEntry
	keys      []keyEntry
	metrics   [][sha256.Size]byte // tokens that may read /metrics
	now       func() time.Time
	warnings  []error        // loads, but probably not what was meant
	gerrit    *GerritChecker // asked for readers bound to Gerrit; nil: they read nothing
}

type reader struct {
	name     string
	projects []string
	envs     []string  // the environments granted; nil: every one
	expires  time.Time // zero: never
	gerrit   *Binding  // nil: not bound to Gerrit
}

type tokenEntry struct {
	hash   [sha256.Size]byte
	reader int
}

type keyEntry struct {
	blob   []byte // ssh wire format, as PublicKey.Marshal returns it
	reader int
}

// Option configures how a List is loaded.
type Option func(*List)

// WithClock sets the clock expiry is checked against (default time.Now).
func WithClock(now func() time.Time) Option { return func(l *List) { l.now = now } }

// WithGerrit sets the checker asked whether Gerrit grants READ to the
// readers bound to a Gerrit account or group; without it they read
// nothing (but anonymous projects).
func WithGerrit(c *GerritChecker) Option { return func(l *List) { l.gerrit = c } }

// accessFile is the YAML shape of the access file.
type accessFile struct {
	Readers   []readerYAML `yaml:"readers"`
	Anonymous []string     `yaml:"anonymous"`
	Metrics   metricsYAML  `yaml:"metrics"`
}

// metricsYAML names the credentials of whoever scrapes /metrics (whose
// labels name every project): no reader's token opens it.
type metricsYAML struct {
	Tokens []string `yaml:"tokens"`
}

type readerYAML struct {
	Name     string   `yaml:"name"`
	Projects []string `yaml:"projects"`
	// Environments limits the reader to these environments of its
	// projects; absent, it reads every one.
	Environments *[]string `yaml:"environments"`
	SSHKeys      []string  `yaml:"sshKeys"`
	Tokens       []string  `yaml:"tokens"`
	Expires      string    `yaml:"expires"`
	// Gerrit binds the reader to a Gerrit account or group (gerrit.go).
	Gerrit *gerritYAML `yaml:"gerrit"`
}

// Load reads and parses the access file at path.
func Load(path string, opts ...Option) (*List, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, opts...)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidReaderName checks a reader name as the access file does: letters,
// digits and ._@- (starting with a letter or digit, at most 64), and not
// the reserved Anonymous. gerritgate token new uses it, so it never makes
// a token for a name the file would refuse, nor refuses one it accepts.
func ValidReaderName(name string) error {
	switch {
	case name == "":
		return errors.New("reader has no name")
	case !nameRE.MatchString(name):
		return fmt.Errorf("reader name %q: use letters, digits and ._@- (at most 64)", name)
	case name == Anonymous:
		return fmt.Errorf("reader name %q is reserved", name)
	}
	return nil
}

// Warnings returns what in the file loads but grants nothing (a reader
// without projects), each with file:line:col, for the log.
func (l *List) Warnings() []error { return l.warnings }

// Parse parses an access file's contents; file names it in errors, which
// carry file:line:col and never the value of a key or token.
func Parse(file string, data []byte, opts ...Option) (*List, error) {
	var f accessFile
	if err := yamlfile.Decode(file, data, &f); err != nil {
		return nil, err
	}
	// A key given no value decodes as if absent; for environments: that
	// would grant every environment, and gerrit: would leave the reader
	// unbound, so find such keys to refuse them.
	var keys struct {
		Readers []map[string]any `yaml:"readers"`
	}
	yamlfile.Decode(file, data, &keys)
	doc := yamlfile.Parse(file, data)
	l := &List{byName: map[string]int{}, now: time.Now}
	for _, o := range opts {
		o(l)
	}
	var errs []error
	bad := func(at, format string, args ...any) { errs = append(errs, doc.Errorf(at, format, args...)) }
	seenToken := map[[sha256.Size]byte]string{}
	seenKey := map[string]string{}

	for i, ry := range f.Readers {
		at := fmt.Sprintf("$.readers[%d]", i)
		r := reader{name: ry.Name}
		nameErr := ValidReaderName(ry.Name)
		switch {
		case ry.Name == "":
			bad(at, "%v", nameErr)
		case nameErr != nil:
			bad(at+".name", "%v", nameErr)
		default:
			if _, dup := l.byName[ry.Name]; dup {
				bad(at+".name", "reader %q is defined twice", ry.Name)
			}
		}
		for j, p := range ry.Projects {
			if err := projectglob.Validate(p); err != nil {
				bad(fmt.Sprintf("%s.projects[%d]", at, j), "%v", err)
			}
			r.projects = append(r.projects, p)
		}
		if i < len(keys.Readers) && keyWithoutValue(keys.Readers[i], "environments") {
			bad(at+".environments", "environments: has no value: name the environments, or remove the key to grant every one")
		}
		if ry.Environments != nil {
			r.envs = []string{}
			if len(*ry.Environments) == 0 {
				bad(at+".environments", "environments: [] grants no environment: name at least one, or remove the key to grant every one")
			}
			for j, e := range *ry.Environments {
				eat := fmt.Sprintf("%s.environments[%d]", at, j)
				switch {
				case storage.ValidateEnv(e) != nil:
					bad(eat, "environment %q: lower case letters, digits and ._- (at most 64), as in the policy file", e)
				case slices.Contains(r.envs, e):
					bad(eat, "environment %q is listed twice", e)
				default:
					r.envs = append(r.envs, e)
				}
			}
		}
		if i < len(keys.Readers) && keyWithoutValue(keys.Readers[i], "gerrit") {
			bad(at+".gerrit", "gerrit: has no value: give {account: ...} or {group: ...}, or remove the key")
		}
		if ry.Gerrit != nil {
			b, err := ry.Gerrit.binding()
			if err != nil {
				bad(at+".gerrit", "%v", err)
			}
			r.gerrit = &b
			if nameErr == nil && l.gerrit == nil {
				l.warnings = append(l.warnings, doc.Errorf(at+".gerrit", "reader %q is bound to Gerrit, but no Gerrit checker is configured: it reads nothing but anonymous projects", ry.Name))
			}
		}
		if len(ry.Projects) == 0 && ry.Gerrit == nil && nameErr == nil {
			l.warnings = append(l.warnings, doc.Errorf(at, "reader %q may read no project: give it projects: [...]", ry.Name))
		}
		if ry.Expires != "" {
			t, err := parseTime(ry.Expires)
			if err != nil {
				bad(at+".expires", "%v", err)
			}
			r.expires = t
		}
		idx := len(l.readers)
		for j, tok := range ry.Tokens {
			tat := fmt.Sprintf("%s.tokens[%d]", at, j)
			h, err := parseTokenHash(tok)
			if err != nil {
				bad(tat, "%v", err)
				continue
			}
			if other, dup := seenToken[h]; dup {
				bad(tat, "token hash is already given to reader %q", other)
				continue
			}
			seenToken[h] = ry.Name
			l.tokens = append(l.tokens, tokenEntry{hash: h, reader: idx})
		}
		for j, k := range ry.SSHKeys {
			kat := fmt.Sprintf("%s.sshKeys[%d]", at, j)
			blob, err := parseKey(k)
			if err != nil {
				bad(kat, "%v", err)
				continue
			}
			if other, dup := seenKey[string(blob)]; dup {
				bad(kat, "ssh key is already given to reader %q", other)
				continue
			}
			seenKey[string(blob)] = ry.Name
			l.keys = append(l.keys, keyEntry{blob: blob, reader: idx})
		}
		if _, dup := l.byName[ry.Name]; !dup {
			l.byName[ry.Name] = idx
		}
		l.readers = append(l.readers, r)
	}
	for j, tok := range f.Metrics.Tokens {
		tat := fmt.Sprintf("$.metrics.tokens[%d]", j)
		h, err := parseTokenHash(tok)
		if err != nil {
			bad(tat, "%v", err)
			continue
		}
		if other, dup := seenToken[h]; dup {
			bad(tat, "token hash is reader %q's: give metrics a token of its own", other)
			continue
		}
		seenToken[h] = "metrics"
		l.metrics = append(l.metrics, h)
	}
	for j, p := range f.Anonymous {
		if err := projectglob.Validate(p); err != nil {
			bad(fmt.Sprintf("$.anonymous[%d]", j), "%v", err)
		}
		l.anonymous = append(l.anonymous, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return l, nil
}

func keyWithoutValue(m map[string]any, k string) bool {
	v, ok := m[k]
	return ok && v == nil
}

// parseTime accepts RFC 3339 times and plain dates (midnight UTC).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("expires %q: want an RFC 3339 time such as 2027-01-01T00:00:00Z", s)
}

// parseTokenHash parses "sha256:<64 hex digits>". The value is never
// quoted back: a plaintext token may have been pasted here by mistake.
func parseTokenHash(s string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	hexPart, ok := strings.CutPrefix(s, "sha256:")
	if !ok {
		return h, errors.New("this looks like a plaintext token: store only its hash, " +
			"sha256:<hex sha256 of the token> (printf %s \"$TOKEN\" | sha256sum), and rotate the token if this file was shared")
	}
	b, err := hex.DecodeString(hexPart)
	if err != nil || len(b) != sha256.Size {
		return h, errors.New("token hash is not sha256:<64 hex digits>")
	}
	copy(h[:], b)
	return h, nil
}

// parseKey parses one public key in authorized_keys form and returns its
// wire encoding. Options (from=, command=, ...) are refused rather than
// silently ignored, and so are certificates and weak key types.
func parseKey(s string) ([]byte, error) {
	pub, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return nil, errors.New("not an ssh public key in authorized_keys form (type base64 [comment])")
	}
	if len(options) > 0 {
		return nil, errors.New("ssh key options are not supported: give the bare key")
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, errors.New("one ssh key per list entry")
	}
	switch t := pub.Type(); {
	case strings.Contains(t, "-cert-"):
		return nil, errors.New("ssh certificates are not supported: give the plain key")
	case t == ssh.KeyAlgoDSA:
		return nil, errors.New("ssh-dss keys are not accepted: use ed25519")
	case t == ssh.KeyAlgoRSA:
		if ck, ok := pub.(ssh.CryptoPublicKey); ok {
			if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
				return nil, fmt.Errorf("rsa key of %d bits is too short: use ed25519 or rsa of 2048 bits or more", rk.N.BitLen())
			}
		}
	}
	return pub.Marshal(), nil
}

// HashToken returns the line an access file holds for token:
// "sha256:<hex>".
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(h[:])
}

// Current returns l itself, so a fixed List is a Source.
func (l *List) Current() *List { return l }

// Readers returns the names of all readers, in file order.
func (l *List) Readers() []string {
	names := make([]string, len(l.readers))
	for i, r := range l.readers {
		names[i] = r.name
	}
	return names
}

// AuthorizeToken returns the reader whose token this is. Every stored hash
// is compared, in constant time, whatever matches, so timing does not tell
// which entry (if any) matched. A reader past its expiry is not returned.
func (l *List) AuthorizeToken(token string) (reader string, ok bool) {
	if token == "" {
		return "", false
	}
	h := sha256.Sum256([]byte(token))
	found := -1
	for _, e := range l.tokens {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 && found < 0 {
			found = e.reader
		}
	}
	return l.active(found)
}

// MetricsToken reports whether token may read /metrics, comparing every
// stored hash in constant time.
func (l *List) MetricsToken(token string) bool {
	if token == "" {
		return false
	}
	h := sha256.Sum256([]byte(token))
	ok := 0
	for _, m := range l.metrics {
		ok |= subtle.ConstantTimeCompare(h[:], m[:])
	}
	return ok == 1
}

// AuthorizeKey returns the reader whose SSH public key this is, comparing
// the wire encoding of every stored key in constant time. A reader past
// its expiry is not returned.
func (l *List) AuthorizeKey(key ssh.PublicKey) (reader string, ok bool) {
	if key == nil {
		return "", false
	}
	blob := key.Marshal()
	found := -1
	for _, e := range l.keys {
		if subtle.ConstantTimeCompare(blob, e.blob) == 1 && found < 0 {
			found = e.reader
		}
	}
	return l.active(found)
}

func (l *List) active(i int) (string, bool) {
	if i < 0 || l.expired(i) {
		return "", false
	}
	return l.readers[i].name, true
}

func (l *List) expired(i int) bool {
	exp := l.readers[i].expires
	return !exp.IsZero() && l.now().After(exp)
}

// CanRead reports whether reader may read project: a pattern of the
// reader's (or of anonymous) matches it and the reader has not expired;
// for a reader bound to Gerrit, Gerrit grants it READ on the project's
// gated branches too (GerritChecker), and its projects, if it lists any,
// match. Nothing is readable unless a pattern or Gerrit grants it.
func (l *List) CanRead(reader, project string) bool {
	if !cleanProject(project) {
		return false
	}
	if l.Anonymous(project) {
		return reader == Anonymous || l.known(reader)
	}
	i, ok := l.byName[reader]
	if !ok || l.expired(i) {
		return false
	}
	r := l.readers[i]
	if r.gerrit == nil {
		return matchAny(r.projects, project)
	}
	// Bound to Gerrit: a projects list, if any, narrows what Gerrit grants.
	if len(r.projects) > 0 && !matchAny(r.projects, project) {
		return false
	}
	return l.gerrit != nil && l.gerrit.CanRead(*r.gerrit, project)
}

// Environments returns which environments of project reader may read:
// every one for an anonymous project and for a reader without an
// environments: list; none (the zero Grant) for a reader who may not read
// the project at all.
func (l *List) Environments(reader, project string) storage.Grant {
	if !l.CanRead(reader, project) {
		return storage.Grant{}
	}
	i, ok := l.byName[reader]
	if l.Anonymous(project) || !ok || l.readers[i].envs == nil {
		return storage.Grant{All: true}
	}
	return storage.Grant{Envs: slices.Clone(l.readers[i].envs)}
}

// CanReadEnv reports whether reader may read environment env of project.
func (l *List) CanReadEnv(reader, project, env string) bool {
	g := l.Environments(reader, project)
	return g.All || slices.Contains(g.Envs, env)
}

func (l *List) known(reader string) bool {
	i, ok := l.byName[reader]
	return ok && !l.expired(i)
}

// Anonymous reports whether project may be read without credentials.
func (l *List) Anonymous(project string) bool {
	return cleanProject(project) && matchAny(l.anonymous, project)
}

func matchAny(patterns []string, project string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return projectglob.Match(p, project) })
}

// cleanProject refuses names no glob should ever grant, whatever the front
// end in front of us let through: storage validates names again.
func cleanProject(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p {
		return false
	}
	return !slices.Contains(strings.Split(p, "/"), "..")
}
