package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd/adapters/kosmosauth"
	"github.com/hookd/hookd/adapters/kosmoscrypto"
)

// eventName is the one event the run publishes and its webhook subscribes to.
const eventName = "E_BENCH"

// publisher sends events to hookd as a 1Kosmos client does: each request with fresh authentication
// headers under a key pair of its own. urls are the nodes' APIs; the nodes share one log, so the
// same license and service key hold on every node.
type publisher struct {
	urls    []string
	license string
	auth    *kosmosauth.Client
	http    *http.Client
}

func newPublisher(urls []string, license, servicePublicKey string, client *http.Client) (*publisher, error) {
	pair, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		return nil, err
	}
	auth, err := kosmosauth.NewClient(servicePublicKey, pair.Private.Encode())
	if err != nil {
		return nil, err
	}
	return &publisher{urls: urls, license: license, auth: auth, http: client}, nil
}

// call sends one authenticated request to the node numbered node (from 0) and returns its status and
// body.
func (p *publisher) call(ctx context.Context, node int, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, p.urls[node]+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	headers, err := p.auth.Headers(p.license, "hookd-bench", time.Now(), rand.Reader)
	if err != nil {
		return 0, nil, err
	}
	for name, value := range headers {
		req.Header.Set(name, value)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, answer, err
}

// events builds the body of one request: an event object, or an array of count events.
type events struct {
	run string
	pad string
	// random pads each event with fresh random base64 instead of pad.
	random bool
}

// Payload kinds (-payload): padding of x that compresses to nearly nothing, or random base64 that
// compresses to its three quarters at best, as tokens, hashes and ciphertext in real payloads do.
const (
	payloadX      = "x"
	payloadRandom = "random"
)

func newEvents(run string, size int, payload string) events {
	// About 60 bytes of the payload are its other fields.
	return events{run: run, pad: strings.Repeat("x", max(0, size-60)), random: payload == payloadRandom}
}

// appendPad appends an event's padding to b.
func (e events) appendPad(b []byte) []byte {
	if !e.random {
		return append(b, e.pad...)
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(e.pad)))
	_, _ = rand.Read(raw) // crypto/rand.Read never fails
	return base64.StdEncoding.AppendEncode(b, raw)
}

func (e events) body(first, count int, batch bool) []byte {
	var b []byte
	if batch {
		b = append(b, '[')
	}
	for seq := first; seq < first+count; seq++ {
		if seq > first {
			b = append(b, ',')
		}
		b = append(b, `{"eventName":"`+eventName+`","payload":{"run":"`...)
		b = append(b, e.run...)
		b = append(b, `","seq":`...)
		b = strconv.AppendInt(b, int64(seq), 10)
		b = append(b, `,"pad":"`...)
		b = e.appendPad(b)
		b = append(b, `"}}`...)
	}
	if batch {
		b = append(b, ']')
	}
	return b
}

// webhookOf is the webhook, numbered from 0, whose scope event seq is published in: requests go
// to the webhooks in turn, so that a request's events share one scope.
func webhookOf(seq, batch, webhooks int) int { return seq / batch % webhooks }

// load publishes events under the options and records every accepted one in the ledger.
type load struct {
	o options
	// paths are the webhooks' event paths, in order.
	paths  []string
	events events
	ledger *ledger
	next   atomic.Int64 // the next sequence number to publish
	failed atomic.Int64 // events whose request was not answered 202
	// late counts open-loop requests that left over 10 ms behind their schedule because every
	// publisher was busy: the offered rate then fell short of -rate.
	late    atomic.Int64
	lastErr atomic.Value // string: the last failure, to explain it
}

// reserve takes the sequence numbers of the next request; count is 0 when -n is used up.
func (l *load) reserve() (first, count int) {
	first = int(l.next.Add(int64(l.o.batch))) - l.o.batch
	count = l.o.batch
	if l.o.events > 0 {
		count = min(count, l.o.events-first)
	}
	return first, max(count, 0)
}

// send publishes one request's events and records them. Requests go to the nodes in turn, by their
// place in the run.
func (l *load) send(ctx context.Context, p *publisher, first, count int) {
	node := first / l.o.batch % len(p.urls)
	path := l.paths[webhookOf(first, l.o.batch, len(l.paths))]
	status, answer, err := p.call(ctx, node, http.MethodPost, path, l.events.body(first, count, l.o.batch > 1))
	if err == nil && status == http.StatusAccepted {
		l.ledger.accept(first, count, time.Now())
		return
	}
	l.failed.Add(int64(count))
	if err != nil {
		l.lastErr.Store(err.Error())
	} else {
		l.lastErr.Store(fmt.Sprintf("%d %s", status, answer))
	}
}

// run publishes until -n events or -duration, closed loop or (with -rate) open loop, and returns
// when every request has been answered.
func (l *load) run(ctx context.Context, pubs []*publisher) {
	end := time.Now().Add(l.o.duration)
	over := func() bool { return ctx.Err() != nil || l.o.duration > 0 && time.Now().After(end) }
	var wg sync.WaitGroup
	if l.o.rate == 0 {
		for _, p := range pubs {
			wg.Go(func() {
				for !over() {
					first, count := l.reserve()
					if count == 0 {
						return
					}
					l.send(ctx, p, first, count)
				}
			})
		}
		wg.Wait()
		return
	}
	// Open loop: requests leave on schedule; the publishers only bound how many are in flight.
	interval := time.Duration(float64(time.Second) * float64(l.o.batch) / l.o.rate)
	idle := make(chan *publisher, len(pubs))
	for _, p := range pubs {
		idle <- p
	}
	start := time.Now()
	for i := 0; ; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if over() {
			break
		}
		first, count := l.reserve()
		if count == 0 {
			break
		}
		p := <-idle
		if time.Since(start.Add(time.Duration(i)*interval)) > 10*time.Millisecond {
			l.late.Add(1)
		}
		wg.Go(func() {
			defer func() { idle <- p }()
			l.send(ctx, p, first, count)
		})
	}
	wg.Wait()
}
