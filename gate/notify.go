package gate

import (
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/gerritgate/gerritgate/internal/yamlfile"
)

// Receiver is a Flux notification-controller Receiver woken after each
// movement of an environment's deploy branch (policy file: an entry of an
// environment's notify list).
type Receiver struct {
	// URL is the Receiver's webhook (http or https, no user:password):
	// the notification-controller's address and the Receiver's
	// status.webhookPath.
	URL string `yaml:"url" json:"url"`
	// Type is the Receiver's spec.type: ReceiverGeneric or
	// ReceiverGenericHMAC.
	Type string `yaml:"type" json:"type"`
	// TokenFile (generic-hmac only) holds the token of the Receiver's
	// Secret; relative paths are relative to the policy file's directory.
	TokenFile string `yaml:"tokenFile" json:"tokenFile"`
}

// Receiver types (Flux's Receiver spec.type).
const (
	ReceiverGeneric     = "generic"
	ReceiverGenericHMAC = "generic-hmac"
)

// checkNotify checks an environment's receivers, at its YAMLPath at, and
// makes relative token files relative to the policy file's directory.
func checkNotify(doc *yamlfile.Doc, file, at string, rs []Receiver) error {
	for i, r := range rs {
		rat := fmt.Sprintf("%s.notify[%d]", at, i)
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
			// The URL itself is not shown: a Receiver's path is a secret.
			return doc.Errorf(rat+".url", "notify url must be an http or https URL with a host")
		}
		if u.User != nil {
			return doc.Errorf(rat+".url", "notify url must not hold a user or password (secrets go in tokenFile)")
		}
		if u.Fragment != "" {
			return doc.Errorf(rat+".url", "notify url must not have a #fragment")
		}
		switch r.Type {
		case ReceiverGeneric:
			if r.TokenFile != "" {
				return doc.Errorf(rat+".tokenFile", "a %s receiver sends no token: leave tokenFile out, or use type %s", ReceiverGeneric, ReceiverGenericHMAC)
			}
		case ReceiverGenericHMAC:
			if r.TokenFile == "" {
				return doc.Errorf(rat, "a %s receiver needs tokenFile (the file holding its Secret's token)", ReceiverGenericHMAC)
			}
			if !filepath.IsAbs(r.TokenFile) {
				rs[i].TokenFile = filepath.Join(filepath.Dir(file), r.TokenFile)
			}
		default:
			return doc.Errorf(rat+".type", "notify type must be %q or %q, got %q", ReceiverGeneric, ReceiverGenericHMAC, r.Type)
		}
		for j := range i {
			if rs[j].URL == r.URL {
				return doc.Errorf(rat+".url", "the same receiver is notified twice")
			}
		}
	}
	return nil
}
