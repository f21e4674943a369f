package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// metrics is one scrape of a gate's /metrics: each sample's value by its
// name and labels as written ("name{a=\"b\"}").
type metrics map[string]float64

func scrape(g *server) (metrics, error) {
	resp, err := http.Get(g.url + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("/metrics: %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// sum adds the samples of metric name whose labels contain every one of
// with and none of without (each written `key="value"`); ok is false
// when the gate has no such metric, so a figure reads n/a rather than 0.
func (m metrics) sum(name string, with, without []string) (total float64, ok bool) {
	for k, v := range m {
		n, labels, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok = true
		match := true
		for _, l := range with {
			match = match && strings.Contains(labels, l)
		}
		for _, l := range without {
			match = match && !strings.Contains(labels, l)
		}
		if match {
			total += v
		}
	}
	return total, ok
}
