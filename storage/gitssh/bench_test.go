package gitssh_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gerritgate/gerritgate/storage"
	"github.com/gerritgate/gerritgate/storage/gitssh"
	"github.com/gerritgate/gerritgate/storage/packcache"
	"github.com/gerritgate/gerritgate/storage/refadv"
	"github.com/gerritgate/gerritgate/storage/storagetest"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// oneRepo resolves every project to one directory.
type oneRepo string

func (d oneRepo) ReaderPath(string, storage.Grant) (string, error) { return string(d), nil }

// anyone lets every key read everything.
type anyone struct{}

func (anyone) AuthorizeKey(gossh.PublicKey) (string, bool) { return "bench", true }
func (anyone) CanRead(string, string) bool                 { return true }
func (anyone) Environments(string, string) storage.Grant   { return storage.Grant{} }

// benchServer serves dir over SSH on loopback with opts and returns a
// client connection to it; each check or clone is one session on it, as
// with a multiplexing client (the key exchange is left out of the
// figures).
func benchServer(b *testing.B, dir string, opts ...gitssh.Option) *gossh.Client {
	hostKey := filepath.Join(b.TempDir(), "host")
	if err := gitssh.EnsureHostKey(hostKey); err != nil {
		b.Fatal(err)
	}
	opts = append([]gitssh.Option{gitssh.WithHostKeyFile(hostKey), gitssh.WithAuthorizer(anyone{}),
		gitssh.WithLimiter(uploadpack.NewLimiter(1024, 1024, 1024)), gitssh.WithMaxSessions(1024, 1024)}, opts...)
	srv, err := gitssh.New(oneRepo(dir), opts...)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := gossh.NewSignerFromKey(priv)
	c, err := gossh.Dial("tcp", ln.Addr().String(), &gossh.ClientConfig{
		User: "git", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.FixedHostKey(srv.PublicKeys()[0]),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// converse runs one upload-pack session: protocol, what the client
// sends, and the bytes it reads.
func converse(b *testing.B, c *gossh.Client, protocol, in string) int64 {
	s, err := c.NewSession()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if protocol != "" {
		s.Setenv("GIT_PROTOCOL", protocol)
	}
	s.Stdin = strings.NewReader(in)
	stdout, _ := s.StdoutPipe()
	if err := s.Start("git-upload-pack 'p'"); err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, stdout)
	if err := s.Wait(); err != nil {
		b.Fatalf("session: %v", err)
	}
	return n
}

// BenchmarkSSHRefCheck: clients check refs over SSH, one session each on
// kept connections: a protocol v0 advertisement then a flush (Flux's
// check, C git's ls-remote in v0), or the v2 capabilities, an ls-refs
// (what C git 2.39's ls-remote asks) and a flush; answered from memory
// (refadv) or by C git upload-pack (before). ns/op is wall time per check
// with all clients together; p50-ms and p99-ms per check; cpu-ms/op the
// process's CPU and its git children's per check, the clients' SSH
// included.
//
//	go test ./storage/gitssh -run '^$' -bench SSHRefCheck -benchtime 2s
func BenchmarkSSHRefCheck(b *testing.B) {
	s := storagetest.Serve(b, "platform/fleet")
	dir, err := s.Store.ServedPath("platform/fleet")
	if err != nil {
		b.Fatal(err)
	}
	lsRefs := pkt("command=ls-refs\n") + pkt("agent=git/2.39.5\n") + pkt("object-format=sha1\n") + "0001" +
		pkt("peel\n") + pkt("symrefs\n") + pkt("unborn\n") + pkt("ref-prefix HEAD\n") + pkt("ref-prefix refs/heads/\n") + pkt("ref-prefix refs/tags/\n") + "0000"
	checks := map[string][2]string{"v0": {"", "0000"}, "v2": {"version=2", lsRefs + "0000"}}
	for _, mode := range []string{"memory", "git"} {
		var opts []gitssh.Option
		if mode == "memory" {
			opts = append(opts, gitssh.WithAdvertiser(refadv.New()))
		}
		for _, check := range []string{"v0", "v2"} {
			for _, clients := range []int{1, 16} {
				b.Run(mode+"/"+check+"/clients="+strconv.Itoa(clients), func(b *testing.B) {
					var conns []*gossh.Client
					for range clients {
						conns = append(conns, benchServer(b, dir, opts...))
					}
					in := checks[check]
					converse(b, conns[0], in[0], in[1]) // the snapshot
					var mu sync.Mutex
					var lat []time.Duration
					next := make(chan struct{}, clients)
					go func() {
						for range b.N {
							next <- struct{}{}
						}
						close(next)
					}()
					cpu0 := storagetest.CPUTime()
					b.ResetTimer()
					var wg sync.WaitGroup
					for _, c := range conns {
						wg.Go(func() {
							var mine []time.Duration
							for range next {
								start := time.Now()
								converse(b, c, in[0], in[1])
								mine = append(mine, time.Since(start))
							}
							mu.Lock()
							lat = append(lat, mine...)
							mu.Unlock()
						})
					}
					wg.Wait()
					b.StopTimer()
					storagetest.ReportLatencies(b, cpu0, lat)
				})
			}
		}
	}
}

// BenchmarkSSHShallowClone: Flux's depth-1 clone over SSH (go-git's exact
// v0 request, sent whole after the advertisement; the answer read and
// dropped) of an unchanged tip of a repository of 4,000 files of 4 KiB
// (GERRITGATE_BENCH_FILES to change it), answered by git each time
// ("git", as before: the advertisement from memory, then upload-pack) or
// from the pack cache ("cache-repeat"). cpu-ms/op is this process's CPU
// and its git children's per clone, the client's SSH included.
//
//	go test ./storage/gitssh -run '^$' -bench SSHShallowClone -benchtime 5x
func BenchmarkSSHShallowClone(b *testing.B) {
	files := 4000
	if n, err := strconv.Atoi(os.Getenv("GERRITGATE_BENCH_FILES")); err == nil && n > 0 {
		files = n
	}
	dir, tip := storagetest.SyntheticRepo(b, files)
	in := pkt("want "+tip+" multi_ack_detailed side-band-64k ofs-delta agent=go-git/5.x shallow no-progress\n") + pkt("deepen 1\n") + "0000" + pkt("done\n")
	for _, mode := range []string{"git", "cache-repeat"} {
		b.Run(mode, func(b *testing.B) {
			opts := []gitssh.Option{gitssh.WithAdvertiser(refadv.New())}
			if mode == "cache-repeat" {
				c, err := packcache.Open(filepath.Join(b.TempDir(), "packs"), 1<<30)
				if err != nil {
					b.Fatal(err)
				}
				opts = append(opts, gitssh.WithPackCache(c))
			}
			conn := benchServer(b, dir, opts...)
			converse(b, conn, "", in) // the snapshot, and the cached answer
			var size int64
			cpu0 := storagetest.CPUTime()
			b.ResetTimer()
			for range b.N {
				size = converse(b, conn, "", in)
			}
			b.StopTimer()
			if size < 1000 {
				b.Fatalf("clone of %d bytes", size)
			}
			b.ReportMetric(float64(storagetest.CPUTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(size)/(1<<20), "MiB")
		})
	}
}
