package main

import (
	"net"
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
