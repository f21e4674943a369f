package refadv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gerritgate/gerritgate/internal/gitid"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// Snapshot is what upload-pack advertises for one state of a served
// repository's refs, taken from C git with the served settings.
type Snapshot struct {
	conv []byte // a protocol v0 conversation's advertisement (SSH)
	v0   []byte // --stateless-rpc --advertise-refs, protocol v0
	caps []byte // the same in protocol v2: the capability advertisement
	refs []ref  // ls-refs with peel, symrefs and unborn, in git's order
	sha1 bool   // the capabilities name object-format=sha1
}

// ref is one line of ls-refs.
type ref struct {
	oid    string // "" for an unborn HEAD
	name   string
	target string // symref-target, if a symbolic ref
	peeled string // peeled, if an annotated tag
}

// fullLsRefs asks ls-refs for everything it can say: every ref with its
// peeled value and symref target, and an unborn HEAD. Any other request's
// answer is a selection of this one's lines and attributes.
var fullLsRefs = func() []byte {
	var b []byte
	b = appendPkt(b, "command=ls-refs\n")
	b = append(b, "0001"...)
	for _, a := range []string{"peel\n", "symrefs\n", "unborn\n"} {
		b = appendPkt(b, a)
	}
	return append(b, "0000"...)
}()

// snapshot asks C git (the binary git) what it advertises for dir: four
// runs of upload-pack.
func snapshot(ctx context.Context, git, dir string) (*Snapshot, error) {
	run := func(protocol string, mode uploadpack.Mode, stdin []byte) ([]byte, error) {
		cmd := uploadpack.Command(ctx, git, dir, protocol, mode)
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		var out bytes.Buffer
		var stderr uploadpack.Stderr
		cmd.Stdout, cmd.Stderr = &out, &stderr
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("upload-pack (protocol %q) on %s: %w", protocol, dir, stderr.Wrap(err))
		}
		return out.Bytes(), nil
	}
	s := &Snapshot{}
	var err error
	if s.v0, err = run("", uploadpack.Advertise, nil); err != nil {
		return nil, err
	}
	// A conversation's advertisement lacks no-done (stateless only); a
	// client that wants nothing ends it with a flush, and git exits 0.
	if s.conv, err = run("", uploadpack.Conversation, []byte("0000")); err != nil {
		return nil, err
	}
	if s.caps, err = run("version=2", uploadpack.Advertise, nil); err != nil {
		return nil, err
	}
	caps, err := splitPkts(s.caps)
	if err != nil {
		return nil, fmt.Errorf("v2 capabilities of %s: %w", dir, err)
	}
	for _, p := range caps {
		if string(p.data) == "object-format=sha1\n" {
			s.sha1 = true
		}
	}
	ls, err := run("version=2", uploadpack.Request, fullLsRefs)
	if err != nil {
		return nil, err
	}
	if s.refs, err = parseLsRefs(ls); err != nil {
		return nil, fmt.Errorf("ls-refs of %s: %w", dir, err)
	}
	return s, nil
}

// parseLsRefs reads the answer to fullLsRefs: lines
// "<oid>|unborn <name>[ symref-target:<ref>][ peeled:<oid>]", a flush,
// nothing after. Anything else is an error: what it cannot read back it
// could not render exactly.
func parseLsRefs(b []byte) ([]ref, error) {
	pkts, err := splitPkts(b)
	if err != nil {
		return nil, err
	}
	if len(pkts) == 0 || pkts[len(pkts)-1].special != flushPkt {
		return nil, fmt.Errorf("does not end with a flush")
	}
	refs := make([]ref, 0, len(pkts)-1)
	for i, p := range pkts[:len(pkts)-1] {
		line, ok := strings.CutSuffix(string(p.data), "\n")
		if p.special != 0 || !ok {
			return nil, fmt.Errorf("line %d: %q is not a ref line", i+1, p.data)
		}
		f := strings.Split(line, " ")
		if len(f) < 2 || len(f) > 4 {
			return nil, fmt.Errorf("line %d: %q is not a ref line", i+1, line)
		}
		r := ref{oid: f[0], name: f[1]}
		if r.oid == "unborn" {
			r.oid = ""
		} else if !gitid.IsObjectID(r.oid) {
			return nil, fmt.Errorf("line %d: %q is not an object id", i+1, r.oid)
		}
		for j, attr := range f[2:] {
			if t, ok := strings.CutPrefix(attr, "symref-target:"); ok && j == 0 && t != "" {
				r.target = t
			} else if pv, ok := strings.CutPrefix(attr, "peeled:"); ok && gitid.IsObjectID(pv) && r.oid != "" && r.peeled == "" {
				r.peeled = pv
			} else {
				return nil, fmt.Errorf("line %d: unknown attribute %q", i+1, attr)
			}
		}
		if r.oid == "" && r.target == "" {
			return nil, fmt.Errorf("line %d: unborn %s without a symref target", i+1, r.name)
		}
		refs = append(refs, r)
	}
	return refs, nil
}

// InfoRefs writes what `git upload-pack --stateless-rpc --advertise-refs`
// writes for a client asking version (0, 1 or 2).
func (s *Snapshot) InfoRefs(w io.Writer, version int) error {
	var err error
	switch version {
	case 2:
		_, err = w.Write(s.caps)
	case 1:
		if _, err = w.Write(appendPkt(nil, "version 1\n")); err == nil {
			_, err = w.Write(s.v0)
		}
	default:
		_, err = w.Write(s.v0)
	}
	return err
}

// conversation returns what `git upload-pack` (not stateless: SSH) writes
// before it reads anything, for a client asking version 0 or 1.
func (s *Snapshot) conversation(version int) []byte {
	if version == 1 {
		return append(appendPkt(nil, "version 1\n"), s.conv...)
	}
	return s.conv
}
