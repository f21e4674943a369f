// Package access is the list of who may read which gated projects: named
// readers with project globs, SSH public keys and hashed tokens, plus the
// projects anyone may read. A Watcher reloads the file when it changes and
// keeps the last good list when an edit is broken.
//
// The file:
//
//	readers:
//	  - name: flux-prod
//	    projects: ["platform/*"]        # project globs; "**" is every project
//	    environments: [prod]            # optional: these environments only (default every one)
//	    sshKeys: ["ssh-ed25519 AAAA... flux@prod"]
//	    tokens: ["sha256:9f86d0..."]    # hex sha256 of the token, never the token
//	    expires: 2027-01-01T00:00:00Z   # optional
//	  - name: flux-staging
//	    gerrit: {account: flux-staging} # or {group: platform-readers}
//	    tokens: ["sha256:2c26b4..."]
//	anonymous: ["public/*"]             # readable without credentials (default none)
//
// Nothing is readable unless a pattern grants it. A reader's environments
// pick the repository the front ends serve it (storage.ReaderPath) and
// what the status page shows it; anonymous projects are whole. Patterns
// are the policy file's (internal/projectglob): "*" does not cross a slash, so
// "platform/*" is platform/fleet, not platform/a/b, and "*" alone is the
// top-level projects only; "platform/**" is everything below platform/,
// "**" every project.
//
// A reader with gerrit: reads a project only while Gerrit grants READ on
// the project's gated branches to the account, or to every account of the
// group; projects:, if given beside it, narrows that. GerritChecker (in
// gerrit.go) asks Gerrit and keeps each answer for a lifetime; past it, a
// reader Gerrit cannot be asked about is refused, never served on an old
// "yes". List.CanRead is the one check every front end asks.
//
// It never stores, logs or returns a token in the clear (only sha256
// hashes are kept and compared, in constant time), and never puts a key or
// token into an error message.
package access
