package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/gerritgate/gerritgate/internal/yamlfile"
	"github.com/gerritgate/gerritgate/storage/githttp"
)

// Config is the service configuration file (gerritgate.yaml). Relative
// paths in it are relative to the file's directory. Secrets are never in it:
// only the paths of files that hold them.
type Config struct {
	DataDir string       `yaml:"dataDir"`
	Poll    string       `yaml:"poll"`
	Gerrit  GerritConfig `yaml:"gerrit"`
	HTTP    HTTPConfig   `yaml:"http"`
	SSH     SSHConfig    `yaml:"ssh"`
	// Policy is the local policy file's path; PolicyReviewed is set
	// instead when policy: names a file in a Gerrit project's branch
	// (policysource.go). Both come from the policy: key (policyKey).
	Policy         string          `yaml:"-"`
	PolicyReviewed *PolicyInGerrit `yaml:"-"`
	PolicyKey      any             `yaml:"policy"`
	// PolicyPolicy is what a commit of the reviewed policy's branch
	// needs before the gate uses it.
	PolicyPolicy PolicyPolicyConfig `yaml:"policyPolicy"`
	// Access is the reader list (access.yaml); without it every served
	// project is readable anonymously over HTTP and SSH is off.
	Access  string `yaml:"access"`
	LogJSON bool   `yaml:"logJSON"`
	// MaxConcurrentClones bounds the git upload-pack processes running at
	// once, HTTP and SSH together (default 32); a clone over it is told to
	// retry.
	MaxConcurrentClones int `yaml:"maxConcurrentClones"`
	// MaxClonesPerReader and MaxClonesPerAddress bound the share of
	// those one reader and one source address may hold (default a
	// quarter of maxConcurrentClones each, at least 1), so no single
	// reader or address can take every slot. Clients without
	// credentials (anonymous projects, or no access file) are not one
	// reader: they are bounded per address only.
	MaxClonesPerReader  int `yaml:"maxClonesPerReader"`
	MaxClonesPerAddress int `yaml:"maxClonesPerAddress"`
	// MaxConnectionsPerAddress bounds the open connections from one
	// source address on each listener (default 64), so one address
	// cannot fill a listener's 1,024.
	MaxConnectionsPerAddress int `yaml:"maxConnectionsPerAddress"`
	// Audit configures the audit trail (refs/heads/audit/<env>).
	Audit AuditConfig `yaml:"audit"`
	// PackCache keeps the answers to clone requests on disk, in
	// <dataDir>/packcache (storage/packcache).
	PackCache PackCacheConfig `yaml:"packCache"`
}

// PackCacheConfig bounds the pack cache.
type PackCacheConfig struct {
	// MaxMiB bounds the answers kept on disk, in MiB (default 1024); the
	// least recently used go first. An answer larger than the bound is
	// sent but not kept.
	MaxMiB int `yaml:"maxMiB"`
	// Disabled runs git for every clone, as without a cache.
	Disabled bool `yaml:"disabled"`
}

// GerritConfig says how to reach Gerrit.
type GerritConfig struct {
	URL            string `yaml:"url"`
	GitURL         string `yaml:"gitURL"`
	Username       string `yaml:"username"`
	PasswordFile   string `yaml:"passwordFile"`
	SSHKeyFile     string `yaml:"sshKeyFile"`
	KnownHostsFile string `yaml:"knownHostsFile"`
	// PageSize is how many changes one REST query asks for (default 100);
	// larger results are paged.
	PageSize int `yaml:"pageSize"`
	// FetchTimeout bounds one git fetch of one project (default 5m): a
	// Gerrit that accepts connections and never answers must not stop the
	// gate from polling the other projects.
	FetchTimeout string `yaml:"fetchTimeout"`
	// MaxConcurrentFetches is how many projects a poll fetches and
	// reconciles at once (default 8, at most 64): with many projects a
	// poll waits mostly on Gerrit's round trips, not on this machine.
	MaxConcurrentFetches int `yaml:"maxConcurrentFetches"`
	// EventsURL, ssh://user@host:port, follows `gerrit stream-events`
	// there (with sshKeyFile and knownHostsFile) and polls at once on
	// every event; the schedule stays as a safety net.
	EventsURL string `yaml:"eventsURL"`
	// ReadCheckLifetime is how long Gerrit's answer to "may this bound
	// reader read this project" is used (default 60s): a READ revoked in
	// Gerrit stops reads within it, and past it a reader Gerrit cannot
	// be asked about is refused. ReadCheckTimeout bounds one check
	// (default 5s).
	ReadCheckLifetime string `yaml:"readCheckLifetime"`
	ReadCheckTimeout  string `yaml:"readCheckTimeout"`
	// ProjectListInterval is how long the projects Gerrit lists for a
	// pattern of the policy ("apps/*") are used before a poll lists them
	// again (default 5m); a project-created event on eventsURL lists them
	// at once. A steady poll then makes no REST call.
	ProjectListInterval string `yaml:"projectListInterval"`

	fetchTimeout, readCheckLifetime, readCheckTimeout, projectListInterval time.Duration // parsed
}

// AuditConfig configures the audit trail. Records are always written;
// with SigningKey they and the tag gerritgate/<env> are signed.
type AuditConfig struct {
	// SigningKey is the armored OpenPGP private key file (gerritgate key
	// new). Without it records are unsigned and no tag is written, and
	// gerritgate verify --key reports every record as not signed.
	SigningKey string `yaml:"signingKey"`
}

// HTTPConfig is the HTTP listener: git, API, status page, metrics.
// Every wait on a client is bounded, so a client that stops sending or
// stops reading gives its connection back.
type HTTPConfig struct {
	Listen string `yaml:"listen"`
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout string `yaml:"readHeaderTimeout"`
	// BodyTimeout bounds reading a request's body (default 30s).
	BodyTimeout string `yaml:"bodyTimeout"`
	// IdleTimeout closes a keep-alive connection with no request for
	// that long (default 60s).
	IdleTimeout string `yaml:"idleTimeout"`
	// StallTimeout closes a connection whose client has read nothing of
	// the response for that long (default 60s).
	StallTimeout string `yaml:"stallTimeout"`
	// UploadPackTimeout bounds one upload-pack run (default 10m).
	UploadPackTimeout string `yaml:"uploadPackTimeout"`
	// MaxRequestBodyKiB bounds one upload-pack request after
	// decompression (default 4096); MaxBufferedKiB bounds the request
	// bodies held in memory at once, all requests together (default
	// 65536), a quarter of it for one reader and for one source address
	// (clients without credentials: per address only); that quarter must
	// hold a whole body and a 16 KiB chunk, so MaxBufferedKiB is at least
	// 4 x (MaxRequestBodyKiB + 16).
	MaxRequestBodyKiB int `yaml:"maxRequestBodyKiB"`
	MaxBufferedKiB    int `yaml:"maxBufferedKiB"`
	// WebhookSecretFile holds the shared secret nudges must carry
	// (POST /api/v1/hooks/gerrit); without it nudges are refused.
	WebhookSecretFile string `yaml:"webhookSecretFile"`

	readHeaderTimeout, bodyTimeout, idleTimeout, stallTimeout, uploadPackTimeout time.Duration
}

// SSHConfig is the SSH listener (git upload-pack only). Off unless Listen
// is set.
type SSHConfig struct {
	Listen       string   `yaml:"listen"`
	HostKeyFiles []string `yaml:"hostKeyFiles"`
	// HandshakeTimeout closes a connection on which no command has
	// started within it of the accept (or of the last command's end),
	// however slowly the client trickles its bytes (default 10s).
	HandshakeTimeout string `yaml:"handshakeTimeout"`
	// IdleTimeout closes a connection with no traffic, and an upload-pack
	// whose git data has not moved, for that long (default 30s).
	IdleTimeout string `yaml:"idleTimeout"`
	// MaxConnectionTime bounds a connection's life, and so each
	// upload-pack (default 10m).
	MaxConnectionTime string `yaml:"maxConnectionTime"`
	// MaxFailedLogins failed logins from one address within
	// FailedLoginWindow refuse that address for FailedLoginWindow
	// (defaults 10 and 1m).
	MaxFailedLogins   int    `yaml:"maxFailedLogins"`
	FailedLoginWindow string `yaml:"failedLoginWindow"`

	handshakeTimeout, idleTimeout, maxConnectionTime, failedLoginWindow time.Duration
	// Session channels open at once, in all and per reader: twice the
	// clone bounds, so a session can wait for its slot (each buffers up
	// to 2 MiB its client sent).
	maxSessions, maxSessionsPerReader int
}

const defaultPoll = "@every 30s"

// bodyChunkKiB is the unit githttp reads (and reserves) request bodies in.
const bodyChunkKiB = githttp.ChunkSize >> 10

// LoadConfig reads, defaults and validates a service config file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// ParseConfig parses a service config file's contents.
func ParseConfig(path string, data []byte) (*Config, error) {
	var c Config
	if err := yamlfile.Decode(path, data, &c); err != nil {
		return nil, err
	}
	doc := yamlfile.Parse(path, data)
	dir := filepath.Dir(path)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if c.DataDir == "" {
		return nil, doc.Errorf("$", "dataDir is required")
	}
	if c.Poll == "" {
		c.Poll = defaultPoll
	}
	if _, err := cron.ParseStandard(c.Poll); err != nil {
		return nil, doc.Errorf("$.poll", "poll %q: %v (e.g. \"@every 30s\" or a cron line)", c.Poll, err)
	}
	if c.Gerrit.URL == "" {
		return nil, doc.Errorf("$", "gerrit.url is required")
	}
	u, err := url.Parse(c.Gerrit.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The value is not repeated: it may hold a password.
		return nil, doc.Errorf("$.gerrit.url", "gerrit.url must be an http(s) URL with a host")
	}
	if u.User != nil {
		return nil, doc.Errorf("$.gerrit.url", "gerrit.url must not hold credentials: use username and passwordFile")
	}
	if c.Gerrit.GitURL != "" {
		g, err := url.Parse(c.Gerrit.GitURL)
		if err != nil || (g.Scheme != "http" && g.Scheme != "https" && g.Scheme != "ssh") || g.Host == "" {
			return nil, doc.Errorf("$.gerrit.gitURL", "gerrit.gitURL must be an http(s) or ssh URL with a host")
		}
		if _, hasPw := g.User.Password(); hasPw {
			return nil, doc.Errorf("$.gerrit.gitURL", "gerrit.gitURL must not hold a password")
		}
		if g.Scheme == "ssh" && (c.Gerrit.SSHKeyFile == "" || c.Gerrit.KnownHostsFile == "") {
			return nil, doc.Errorf("$.gerrit.gitURL", "an ssh gitURL needs gerrit.sshKeyFile and gerrit.knownHostsFile")
		}
	}
	if c.Gerrit.EventsURL != "" {
		e, err := url.Parse(c.Gerrit.EventsURL)
		if err != nil || e.Scheme != "ssh" || e.Host == "" || e.Path != "" {
			return nil, doc.Errorf("$.gerrit.eventsURL", "gerrit.eventsURL must be ssh://user@host:port (Gerrit's SSH daemon)")
		}
		if c.Gerrit.SSHKeyFile == "" || c.Gerrit.KnownHostsFile == "" {
			return nil, doc.Errorf("$.gerrit.eventsURL", "gerrit.eventsURL needs gerrit.sshKeyFile and gerrit.knownHostsFile")
		}
	}
	if c.Gerrit.PasswordFile != "" && c.Gerrit.Username == "" {
		return nil, doc.Errorf("$.gerrit.passwordFile", "gerrit.passwordFile needs gerrit.username")
	}
	if c.Gerrit.MaxConcurrentFetches == 0 {
		c.Gerrit.MaxConcurrentFetches = 8
	}
	if c.Gerrit.MaxConcurrentFetches < 1 || c.Gerrit.MaxConcurrentFetches > 64 {
		return nil, doc.Errorf("$.gerrit.maxConcurrentFetches", "gerrit.maxConcurrentFetches must be between 1 and 64, got %d", c.Gerrit.MaxConcurrentFetches)
	}
	if c.Gerrit.PageSize == 0 {
		c.Gerrit.PageSize = 100
	}
	if c.Gerrit.PageSize < 1 || c.Gerrit.PageSize > 500 {
		return nil, doc.Errorf("$.gerrit.pageSize", "gerrit.pageSize must be between 1 and 500, got %d", c.Gerrit.PageSize)
	}
	for _, d := range []struct {
		key, def string
		min      time.Duration
		val      *string
		out      *time.Duration
	}{
		{"gerrit.fetchTimeout", "5m", time.Second, &c.Gerrit.FetchTimeout, &c.Gerrit.fetchTimeout},
		{"gerrit.readCheckLifetime", "60s", time.Second, &c.Gerrit.ReadCheckLifetime, &c.Gerrit.readCheckLifetime},
		{"gerrit.readCheckTimeout", "5s", 100 * time.Millisecond, &c.Gerrit.ReadCheckTimeout, &c.Gerrit.readCheckTimeout},
		{"gerrit.projectListInterval", "5m", time.Second, &c.Gerrit.ProjectListInterval, &c.Gerrit.projectListInterval},
		{"http.readHeaderTimeout", "10s", 10 * time.Millisecond, &c.HTTP.ReadHeaderTimeout, &c.HTTP.readHeaderTimeout},
		{"http.bodyTimeout", "30s", 10 * time.Millisecond, &c.HTTP.BodyTimeout, &c.HTTP.bodyTimeout},
		{"http.idleTimeout", "60s", 10 * time.Millisecond, &c.HTTP.IdleTimeout, &c.HTTP.idleTimeout},
		{"http.stallTimeout", "60s", 10 * time.Millisecond, &c.HTTP.StallTimeout, &c.HTTP.stallTimeout},
		{"http.uploadPackTimeout", "10m", time.Second, &c.HTTP.UploadPackTimeout, &c.HTTP.uploadPackTimeout},
	} {
		if *d.val == "" {
			*d.val = d.def
		}
		if *d.out, err = time.ParseDuration(*d.val); err != nil || *d.out < d.min {
			return nil, doc.Errorf("$."+d.key, "%s must be a duration of at least %v (e.g. %s), got %q", d.key, d.min, d.def, *d.val)
		}
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = "127.0.0.1:8080"
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		return nil, doc.Errorf("$.http.listen", "http.listen %q: %v", c.HTTP.Listen, err)
	}
	if c.SSH.Listen != "" {
		if _, _, err := net.SplitHostPort(c.SSH.Listen); err != nil {
			return nil, doc.Errorf("$.ssh.listen", "ssh.listen %q: %v", c.SSH.Listen, err)
		}
		if len(c.SSH.HostKeyFiles) == 0 {
			return nil, doc.Errorf("$.ssh", "ssh.hostKeyFiles is required with ssh.listen")
		}
		if c.Access == "" {
			return nil, doc.Errorf("$.ssh", "ssh needs an access file (access: ./access.yaml) naming the readers' keys")
		}
	}
	for _, d := range []struct {
		field, value, def string
		min               time.Duration
		out               *time.Duration
	}{
		{"handshakeTimeout", c.SSH.HandshakeTimeout, "10s", 100 * time.Millisecond, &c.SSH.handshakeTimeout},
		{"idleTimeout", c.SSH.IdleTimeout, "30s", 100 * time.Millisecond, &c.SSH.idleTimeout},
		{"maxConnectionTime", c.SSH.MaxConnectionTime, "10m", time.Second, &c.SSH.maxConnectionTime},
		{"failedLoginWindow", c.SSH.FailedLoginWindow, "1m", time.Second, &c.SSH.failedLoginWindow},
	} {
		v := d.value
		if v == "" {
			v = d.def
		}
		if *d.out, err = time.ParseDuration(v); err != nil || *d.out < d.min {
			return nil, doc.Errorf("$.ssh."+d.field, "ssh.%s must be a duration of at least %v (e.g. %s), got %q", d.field, d.min, d.def, v)
		}
	}
	if c.SSH.MaxFailedLogins == 0 {
		c.SSH.MaxFailedLogins = 10
	}
	if c.SSH.MaxFailedLogins < 1 || c.SSH.MaxFailedLogins > 1000 {
		return nil, doc.Errorf("$.ssh.maxFailedLogins", "ssh.maxFailedLogins must be between 1 and 1000, got %d", c.SSH.MaxFailedLogins)
	}
	for i := range c.SSH.HostKeyFiles {
		c.SSH.HostKeyFiles[i] = abs(c.SSH.HostKeyFiles[i])
	}
	c.Access = abs(c.Access)
	if c.MaxConcurrentClones == 0 {
		c.MaxConcurrentClones = 32
	}
	if c.MaxConcurrentClones < 1 || c.MaxConcurrentClones > 10000 {
		return nil, doc.Errorf("$.maxConcurrentClones", "maxConcurrentClones must be between 1 and 10000, got %d", c.MaxConcurrentClones)
	}
	bufferedSet := c.HTTP.MaxBufferedKiB != 0
	for _, n := range []struct {
		key           string
		def, min, max int
		val           *int
	}{
		{"maxClonesPerReader", max(1, c.MaxConcurrentClones/4), 1, c.MaxConcurrentClones, &c.MaxClonesPerReader},
		{"maxClonesPerAddress", max(1, c.MaxConcurrentClones/4), 1, c.MaxConcurrentClones, &c.MaxClonesPerAddress},
		{"maxConnectionsPerAddress", 64, 1, maxConnections, &c.MaxConnectionsPerAddress},
		{"http.maxRequestBodyKiB", 4096, 1, 1 << 20, &c.HTTP.MaxRequestBodyKiB},
		{"http.maxBufferedKiB", 65536, 1, 1 << 22, &c.HTTP.MaxBufferedKiB},
		{"packCache.maxMiB", 1024, 1, 1 << 24, &c.PackCache.MaxMiB},
	} {
		if *n.val == 0 {
			*n.val = n.def
		}
		if *n.val < n.min || *n.val > n.max {
			return nil, doc.Errorf("$."+n.key, "%s must be between %d and %d, got %d", n.key, n.min, n.max, *n.val)
		}
	}
	// One reader's or address's quarter of the buffer must hold a whole
	// request body and the chunk read past it to find its end; else the
	// largest bodies allowed are refused 503 for ever.
	if need := 4 * (c.HTTP.MaxRequestBodyKiB + bodyChunkKiB); c.HTTP.MaxBufferedKiB < need {
		at := "$.http.maxRequestBodyKiB"
		if bufferedSet {
			at = "$.http.maxBufferedKiB"
		}
		return nil, doc.Errorf(at, "http.maxBufferedKiB (%d) must be at least 4 x (http.maxRequestBodyKiB + %d) = %d: a quarter of it is one reader's or address's share, which must hold a whole request body and the %d KiB read past it", c.HTTP.MaxBufferedKiB, bodyChunkKiB, need, bodyChunkKiB)
	}
	c.SSH.maxSessions, c.SSH.maxSessionsPerReader = 2*c.MaxConcurrentClones, 2*c.MaxClonesPerReader
	if err := c.parsePolicyKey(doc); err != nil {
		return nil, err
	}
	c.DataDir = abs(c.DataDir)
	if c.Policy != "" {
		c.Policy = abs(c.Policy)
	}
	c.Gerrit.PasswordFile = abs(c.Gerrit.PasswordFile)
	c.HTTP.WebhookSecretFile = abs(c.HTTP.WebhookSecretFile)
	c.Gerrit.SSHKeyFile = abs(c.Gerrit.SSHKeyFile)
	c.Gerrit.KnownHostsFile = abs(c.Gerrit.KnownHostsFile)
	c.Audit.SigningKey = abs(c.Audit.SigningKey)
	return &c, nil
}

// readSecret reads a secret from a file, dropping a trailing newline. A
// world-writable file is refused: anyone could swap the credential.
func readSecret(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return "", fmt.Errorf("%s is world-writable", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
