// Peers of the local serving proxy for bench/bench_serving.py, built with the Go toolchain alone (no modules).
//
//	relay -mode http -listen 127.0.0.1:P -to 127.0.0.1:Q   Go's net/http/httputil.ReverseProxy
//	relay -mode tcp  -listen 127.0.0.1:P -to 127.0.0.1:Q   a byte forwarder: io.Copy each way (splice on Linux)
//
// The reverse proxy does what Arena's proxy does per request (parse, forward on a pooled keep-alive
// connection, relay the answer); the byte forwarder parses nothing and picks no replica per request, so it
// is the floor of one more user-space TCP hop on this machine, below any HTTP proxy.
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
)

func main() {
	mode := flag.String("mode", "http", "http or tcp")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	to := flag.String("to", "", "host:port of the server")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	switch *mode {
	case "http":
		target := &url.URL{Scheme: "http", Host: *to}
		proxy := httputil.NewSingleHostReverseProxy(target)
		proxy.Transport = &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true}
		log.Fatal(http.Serve(ln, proxy))
	case "tcp":
		for {
			c, err := ln.Accept()
			if err != nil {
				log.Fatal(err)
			}
			go forward(c.(*net.TCPConn), *to)
		}
	default:
		log.Fatalf("unknown -mode %q", *mode)
	}
}

func forward(c *net.TCPConn, to string) {
	defer c.Close()
	u, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	up := u.(*net.TCPConn)
	defer up.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(up, c)
		up.CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.CloseWrite()
	<-done
}
