package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// dialFrom connects to addr from a given loopback source address.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c (a read returns EOF
// rather than timing out).
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

func TestLimitPerAddress(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan struct{}, 100)
	ln := limitPerAddress(raw, 2, func() { refused <- struct{}{} })
	defer ln.Close()
	accepted := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	addr := raw.Addr().String()
	a1, a2 := dialFrom(t, "127.0.0.2", addr), dialFrom(t, "127.0.0.2", addr)
	s1, s2 := <-accepted, <-accepted
	a3 := dialFrom(t, "127.0.0.2", addr) // over the bound for 127.0.0.2
	<-refused
	if !closedByServer(a3) {
		t.Error("third connection from 127.0.0.2 was not closed")
	}
	if closedByServer(a1) || closedByServer(a2) {
		t.Error("connections within the bound were closed")
	}
	b1 := dialFrom(t, "127.0.0.1", addr) // another address is not affected
	sb := <-accepted
	if closedByServer(b1) {
		t.Error("connection from 127.0.0.1 refused while 127.0.0.2 is at its bound")
	}
	// Closing one (twice) frees exactly one place.
	s1.Close()
	s1.Close()
	dialFrom(t, "127.0.0.2", addr)
	<-accepted
	a5 := dialFrom(t, "127.0.0.2", addr)
	<-refused
	if !closedByServer(a5) {
		t.Error("a double Close freed two places")
	}
	s2.Close()
	sb.Close()
}

// A full HTTP listener makes room for a new client by closing the
// connection idle the longest; without that the client waits for the idle
// timeout.
func TestFullListenerReclaimsIdle(t *testing.T) {
	for _, reclaim := range []bool{true, false} {
		raw, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var idle *idleConns
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
		if reclaim {
			idle = newIdleConns()
			srv.ConnState = idle.track
		}
		go srv.Serve(limitListener(raw, 3, 3, nil, idle))
		addr := raw.Addr().String()
		var held []net.Conn
		for i := 0; i < 3; i++ {
			c := dialFrom(t, "127.0.0.2", addr)
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
				t.Fatalf("idle client %d: %v", i, err)
			}
			held = append(held, c)
			time.Sleep(10 * time.Millisecond) // distinct idle times
		}
		client := http.Client{Timeout: time.Second}
		resp, err := client.Get("http://" + addr + "/")
		if reclaim {
			if err != nil {
				t.Errorf("full listener with idle connections: new client got %v", err)
			} else {
				resp.Body.Close()
			}
			if !closedByServer(held[0]) || closedByServer(held[2]) {
				t.Errorf("want the oldest idle connection closed and the newest kept")
			}
		} else if err == nil {
			resp.Body.Close()
			t.Errorf("without reclaiming, a new client got in: the test proves nothing")
		}
		srv.Close()
	}
}

// A write the client takes nothing of fails after the stall timeout; one
// it reads goes through however long the whole takes.
func TestStallWrites(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := stallWrites(raw, 300*time.Millisecond)
	defer ln.Close()
	dialFrom(t, "127.0.0.1", raw.Addr().String()) // reads nothing
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	start := time.Now()
	_, err = server.Write(make([]byte, 64<<20)) // more than any socket buffer
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("write to a client that reads nothing: %v after %v, want a timeout after 300ms", err, time.Since(start))
	}
	// A slow but steady reader is not cut off.
	server2Ln := stallWrites(raw, time.Second)
	client2 := dialFrom(t, "127.0.0.1", raw.Addr().String())
	server2, _ := server2Ln.Accept()
	defer server2.Close()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			time.Sleep(5 * time.Millisecond)
			if _, err := client2.Read(buf); err != nil {
				return
			}
		}
	}()
	for i := 0; i < 20; i++ {
		if _, err := server2.Write(make([]byte, 256<<10)); err != nil {
			t.Fatalf("write %d to a reading client: %v", i, err)
		}
	}
}
