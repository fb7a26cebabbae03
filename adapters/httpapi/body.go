package httpapi

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/semaphore"
)

// Limits bound what clients can hold of the server. Zero fields take the defaults below.
type Limits struct {
	// MaxConns caps the connections served at once; one more is answered 503 and closed.
	MaxConns int
	// MaxConnsPerIP caps the connections from one client address; one more is answered 429 and
	// closed. Negative: no cap per address (behind a proxy, every client has the proxy's address).
	MaxConnsPerIP int
	// BodyTimeout is the time a request's body has to arrive, counted from the end of its headers.
	BodyTimeout time.Duration
	// BodyMemory caps the bytes of request bodies held at once, across all requests: memory is
	// taken as bytes arrive, and a request that would go over it is answered 503.
	BodyMemory int64
}

// Defaults of Limits.
const (
	DefaultMaxConns      = 4096
	DefaultMaxConnsPerIP = 256
	DefaultBodyTimeout   = 10 * time.Second
	DefaultBodyMemory    = 64 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxConns == 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.MaxConnsPerIP == 0 {
		l.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if l.BodyTimeout == 0 {
		l.BodyTimeout = DefaultBodyTimeout
	}
	if l.BodyMemory == 0 {
		l.BodyMemory = DefaultBodyMemory
	}
	return l
}

const (
	// maxDrainBytes is how much of a refused body is read and thrown away after the answer, so that
	// a client still sending reads the answer instead of a reset connection (a close with unread
	// data resets it). A larger body is cut off: its client may see a reset.
	maxDrainBytes = 8 << 20
	// maxDrains caps the refused bodies drained at once; past it, connections are closed at once.
	maxDrains = 256
	// firstBodyChunk is the most memory a body gets before its bytes arrive.
	firstBodyChunk = 16 << 10
)

// bodyReader reads request bodies as they arrive, within MaxBodyBytes and the shared body memory.
type bodyReader struct {
	memory *semaphore.Weighted
	// inUse mirrors what memory has handed out, which a semaphore does not tell, for
	// hookd_http_body_memory_bytes: how close the server is to refusing bodies.
	inUse   atomic.Int64
	drains  chan struct{}
	timeout time.Duration
}

func newBodyReader(l Limits) *bodyReader {
	return &bodyReader{memory: semaphore.NewWeighted(l.BodyMemory), drains: make(chan struct{}, maxDrains),
		timeout: l.BodyTimeout}
}

// errBodyMemory refuses a body when the bodies in flight hold all the memory they may.
var errBodyMemory = &apiError{status: fiber.StatusServiceUnavailable,
	message: "too many request bodies are being received; try again"}

// readBody is the middleware that reads the request body before any handler, since fasthttp streams
// it (Config.StreamRequestBody): memory is taken only as bytes arrive, never for a length that is
// merely declared, and a body over MaxBodyBytes is answered 413 without being kept. Handlers then
// find the body in c.Body(). Compressed bodies are refused: inflating one would take memory that no
// limit on the bytes sent bounds.
func (b *bodyReader) readBody(c *fiber.Ctx) error {
	if declared := c.Request().Header.Peek(headerOversize); len(declared) > 0 {
		n, _ := strconv.ParseInt(string(declared), 10, 64)
		return b.refuse(c, func(conn net.Conn) io.Reader { return io.LimitReader(conn, n) }, errBodyTooLarge)
	}
	stream := c.Context().RequestBodyStream()
	if stream == nil {
		return c.Next()
	}
	rest := func(net.Conn) io.Reader { return stream }
	declared := c.Request().Header.ContentLength() // -1: chunked
	if enc := c.Request().Header.Peek(fiber.HeaderContentEncoding); len(enc) > 0 && string(enc) != "identity" {
		return b.refuse(c, rest, &apiError{status: fiber.StatusUnsupportedMediaType,
			message: "Content-Encoding " + strconv.Quote(string(enc)) + " is not supported: send the body uncompressed"})
	}
	body, held, err := b.read(stream, declared)
	defer b.release(held)
	if err != nil {
		if errors.Is(err, errBodyTooLarge) || errors.Is(err, errBodyMemory) {
			return b.refuse(c, rest, err)
		}
		// The connection is at an unknown point of the body: fasthttp closes it after the answer.
		if netErr, ok := errors.AsType[net.Error](err); ok && netErr.Timeout() {
			return &apiError{status: fiber.StatusRequestTimeout, message: "the request body did not arrive within " + b.timeout.String()}
		}
		return badRequest("the request body ended early")
	}
	c.Request().SetBodyRaw(body)
	return c.Next()
}

// release gives back the body memory a request held.
func (b *bodyReader) release(held int64) {
	b.inUse.Add(-held)
	b.memory.Release(held)
}

// errBodyTooLarge is the answer to a body over MaxBodyBytes.
var errBodyTooLarge = &apiError{status: fiber.StatusRequestEntityTooLarge,
	message: "the request body is over the limit of 1 MiB (" + strconv.Itoa(MaxBodyBytes) + " bytes)"}

// read reads the body to its end, growing its buffer as bytes arrive, each growth taken from the
// shared body memory first. It returns the body and the memory it holds, to be released once the
// request is answered.
func (b *bodyReader) read(stream io.Reader, declared int) (body []byte, held int64, err error) {
	// A body never needs more than its declared length, and one byte more shows where it ends
	// without growing; a chunked one (declared < 0) may need up to one byte past the limit.
	most := MaxBodyBytes + 1
	if declared >= 0 {
		most = declared + 1
	}
	size := min(firstBodyChunk, most)
	grow := func(to int) error {
		if !b.memory.TryAcquire(int64(to) - held) {
			return errBodyMemory
		}
		b.inUse.Add(int64(to) - held)
		held = int64(to)
		next := make([]byte, len(body), to)
		copy(next, body)
		body = next
		return nil
	}
	if err := grow(size); err != nil {
		return nil, held, err
	}
	for {
		if len(body) == cap(body) {
			if len(body) > MaxBodyBytes {
				return nil, held, errBodyTooLarge
			}
			if err := grow(min(2*cap(body), most)); err != nil {
				return nil, held, err
			}
		}
		n, err := stream.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if errors.Is(err, io.EOF) {
			if len(body) > MaxBodyBytes {
				return nil, held, errBodyTooLarge
			}
			return body, held, nil
		}
		if err != nil {
			return nil, held, err
		}
	}
}

// refuse answers err with "Connection: close" and then reads and throws away what is left of the
// body (at most maxDrainBytes, within the body timeout) before it closes: a client that sends its
// whole body before it reads gets the answer, not a reset connection, which a close with unread
// data would be. rest gives what is left of the body on the connection.
//
// fasthttp closes a connection whose answer says "Connection: close" without calling a hijack
// handler, so the answer that errorHandler makes is written by the handler itself.
func (b *bodyReader) refuse(c *fiber.Ctx, rest func(net.Conn) io.Reader, err error) error {
	ctx := c.Context()
	select {
	case b.drains <- struct{}{}:
	default:
		// Too many drains already: close at once.
		ctx.SetConnectionClose()
		return err
	}
	timeout := b.timeout
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(conn net.Conn) {
		defer func() { <-b.drains }()
		ctx.Response.SetConnectionClose()
		_ = conn.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := ctx.Response.WriteTo(conn); err != nil {
			return
		}
		_ = conn.SetReadDeadline(time.Now().Add(timeout))
		_, _ = io.CopyN(io.Discard, rest(conn), maxDrainBytes)
	})
	return err
}

// headerOversize carries, from headerReceived to readBody, the declared length of a body over
// MaxBodyBytes. Clients cannot set it: headerReceived removes it from every request.
const headerOversize = "X-Hookd-Oversize-Body"

// headerReceived runs when a request's headers have arrived, before its body: it gives the body
// BodyTimeout to arrive, and takes a body declared over MaxBodyBytes out of fasthttp's hands.
// fasthttp waits for the first 8 KiB of a streamed body before any handler runs; such a body would
// then hold its client's answer (and the connection) for up to BodyTimeout. Its length is set to
// 0 instead, so that readBody answers 413 at once and drains the declared bytes afterwards.
func (b *bodyReader) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	h.Del(headerOversize)
	if n := h.ContentLength(); n > MaxBodyBytes {
		h.Set(headerOversize, strconv.Itoa(n))
		h.SetContentLength(0)
		// A client that waits for "100 Continue" gets the 413 instead, and need not send the body.
		h.Del(fiber.HeaderExpect)
	}
	return fasthttp.RequestConfig{ReadTimeout: b.timeout}
}
