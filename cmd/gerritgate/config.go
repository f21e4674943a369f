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
	Policy  string       `yaml:"policy"`
	// Access is the reader list (access.yaml); without it every served
	// project is readable anonymously over HTTP and SSH is off.
	Access  string `yaml:"access"`
	LogJSON bool   `yaml:"logJSON"`
	// MaxConcurrentClones bounds the git upload-pack processes running at
	// once, HTTP and SSH together (default 32); a clone over it is told to
	// retry.
	MaxConcurrentClones int `yaml:"maxConcurrentClones"`
	// Audit configures the audit trail (refs/heads/audit/<env>).
	Audit AuditConfig `yaml:"audit"`

	file string
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
	// EventsURL, ssh://user@host:port, follows `gerrit stream-events`
	// there (with sshKeyFile and knownHostsFile) and polls at once on
	// every event; the schedule stays as a safety net.
	EventsURL string `yaml:"eventsURL"`

	fetchTimeout time.Duration // FetchTimeout parsed
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
type HTTPConfig struct {
	Listen string `yaml:"listen"`
}

// SSHConfig is the SSH listener (git upload-pack only). Off unless Listen
// is set.
type SSHConfig struct {
	Listen       string   `yaml:"listen"`
	HostKeyFiles []string `yaml:"hostKeyFiles"`
}

const defaultPoll = "@every 30s"

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
	c.file = path
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
	if c.Gerrit.PageSize == 0 {
		c.Gerrit.PageSize = 100
	}
	if c.Gerrit.PageSize < 1 || c.Gerrit.PageSize > 500 {
		return nil, doc.Errorf("$.gerrit.pageSize", "gerrit.pageSize must be between 1 and 500, got %d", c.Gerrit.PageSize)
	}
	if c.Gerrit.FetchTimeout == "" {
		c.Gerrit.FetchTimeout = "5m"
	}
	if c.Gerrit.fetchTimeout, err = time.ParseDuration(c.Gerrit.FetchTimeout); err != nil || c.Gerrit.fetchTimeout < time.Second {
		return nil, doc.Errorf("$.gerrit.fetchTimeout", "gerrit.fetchTimeout must be a duration of at least 1s (e.g. 5m), got %q", c.Gerrit.FetchTimeout)
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
	if c.Policy == "" {
		return nil, doc.Errorf("$", "policy (the policy file's path) is required")
	}
	c.DataDir = abs(c.DataDir)
	c.Policy = abs(c.Policy)
	c.Gerrit.PasswordFile = abs(c.Gerrit.PasswordFile)
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
