package kurrentdbtest

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// serverVersion is what GetSupportedMethods reports; the client parses it as dotted integers.
const serverVersion = "24.10.0"

type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

func (featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const svc = "event_store.client.streams.streams"
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: serverVersion,
		Methods: []*serverfeatures.SupportedMethod{
			{ServiceName: svc, MethodName: "read"},
			{ServiceName: svc, MethodName: "append"},
		},
	}, nil
}

type streamsService struct {
	streams.UnimplementedStreamsServer
	log *memLog
}

// Append reads the options, then one message per event, and answers once the client has sent all.
func (s *streamsService) Append(srv streams.Streams_AppendServer) error {
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil || len(opts.GetStreamIdentifier().GetStreamName()) == 0 {
		return status.Error(codes.InvalidArgument, "the first append message must name the stream")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	var exp expectation
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Revision:
		exp = expectation{kind: expectRevision, revision: e.Revision}
	case *streams.AppendReq_Options_NoStream:
		exp.kind = expectNoStream
	case *streams.AppendReq_Options_StreamExists:
		exp.kind = expectExists
	default:
		exp.kind = expectAny
	}
	var recs []*record
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		msg := req.GetProposedMessage()
		if msg == nil {
			return status.Error(codes.InvalidArgument, "expected a proposed message")
		}
		id, err := fromProtoUUID(msg.GetId())
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		typ, ctype := msg.GetMetadata()["type"], msg.GetMetadata()["content-type"]
		if typ == "" || ctype == "" {
			return status.Error(codes.InvalidArgument, "an event needs the type and content-type metadata")
		}
		recs = append(recs, &record{
			id:       id,
			metadata: map[string]string{"type": typ, "content-type": ctype},
			custom:   msg.GetCustomMetadata(),
			data:     msg.GetData(),
		})
	}
	out := s.log.append(stream, exp, recs)
	if out.conflict {
		return srv.SendAndClose(wrongExpectedVersion(exp, out))
	}
	return srv.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_Success_{Success: &streams.AppendResp_Success{
		CurrentRevisionOption: &streams.AppendResp_Success_CurrentRevision{CurrentRevision: out.revision},
		PositionOption: &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition: out.position, PreparePosition: out.position,
		}},
	}}})
}

func wrongExpectedVersion(exp expectation, out appendOutcome) *streams.AppendResp {
	empty := &shared.Empty{}
	w := &streams.AppendResp_WrongExpectedVersion{}
	if out.exists {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: out.revision}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: out.revision}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: empty}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: empty}
	}
	switch exp.kind {
	case expectRevision:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: exp.revision}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: exp.revision}
	case expectNoStream:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: empty}
	case expectExists:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: empty}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: empty}
	default:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: empty}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: empty}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

// Read serves plain reads of a stream or $all, and subscriptions to $all.
func (s *streamsService) Read(req *streams.ReadReq, srv streams.Streams_ReadServer) error {
	opts := req.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "a read needs options")
	}
	keep, err := filter(opts)
	if err != nil {
		return err
	}
	backwards := opts.GetReadDirection() == streams.ReadReq_Options_Backwards
	switch opts.GetCountOption().(type) {
	case *streams.ReadReq_Options_Subscription:
		all := opts.GetAll()
		if all == nil {
			return status.Error(codes.Unimplemented, "kurrentdbtest subscribes to $all only")
		}
		return s.subscribe(all, keep, opts.GetFilter() != nil, srv)
	}
	count := opts.GetCount()
	if stream := opts.GetStream(); stream != nil {
		name := string(stream.GetStreamIdentifier().GetStreamName())
		var from uint64
		fromEnd := stream.GetEnd() != nil
		if r, ok := stream.GetRevisionOption().(*streams.ReadReq_Options_StreamOptions_Revision); ok {
			from = r.Revision
		}
		recs, found := s.log.readStream(name, from, fromEnd, backwards, count)
		if !found {
			return srv.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{StreamNotFound: &streams.ReadResp_StreamNotFound{
				StreamIdentifier: stream.GetStreamIdentifier(),
			}}})
		}
		return sendAll(srv, recs)
	}
	all := opts.GetAll()
	if all == nil {
		return status.Error(codes.InvalidArgument, "a read names a stream or $all")
	}
	from, fromEnd := allStart(all)
	return sendAll(srv, s.log.readAll(from, fromEnd, backwards, count, keep))
}

// allStart reads an $all start: a position, the start (0) or the end.
func allStart(all *streams.ReadReq_Options_AllOptions) (pos uint64, end bool) {
	switch a := all.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		return a.Position.GetCommitPosition(), false
	case *streams.ReadReq_Options_AllOptions_End:
		return 0, true
	}
	return 0, false
}

// subscriptionBatch bounds how many events a subscription takes from the log at a time.
const subscriptionBatch = 512

// subscribe confirms, catches up after the exclusive start, says so, then follows the log until the
// client leaves or the server drops the subscription.
func (s *streamsService) subscribe(all *streams.ReadReq_Options_AllOptions, keep func(*record) bool, filtered bool, srv streams.Streams_ReadServer) error {
	ctx, cancel := context.WithCancelCause(srv.Context())
	defer cancel(nil)
	s.log.track(&cancel)
	defer s.log.untrack(&cancel)

	if err := srv.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{Confirmation: &streams.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString(),
	}}}); err != nil {
		return err
	}
	cursor, fromEnd := allStart(all)
	if fromEnd {
		cursor = s.log.end()
	}
	caughtUp := false
	for {
		recs, scanned, changed := s.log.after(cursor, subscriptionBatch)
		for _, r := range recs {
			if keep(r) {
				if err := srv.Send(eventResp(r)); err != nil {
					return err
				}
			}
		}
		if len(recs) > 0 {
			cursor = scanned
			if filtered {
				// A filtered subscription tells the client how far the server has looked, so a
				// subscriber to rare events can checkpoint past the ones it never sees.
				if err := srv.Send(&streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{
					CommitPosition: scanned, PreparePosition: scanned,
				}}}); err != nil {
					return err
				}
			}
			continue
		}
		if !caughtUp {
			caughtUp = true
			if err := srv.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), errStopped) {
				return status.Error(codes.Aborted, errStopped.Error())
			}
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

// filter turns a read's filter into a predicate; no filter keeps everything.
func filter(opts *streams.ReadReq_Options) (func(*record) bool, error) {
	f := opts.GetFilter()
	if f == nil {
		return func(*record) bool { return true }, nil
	}
	expr, field := f.GetStreamIdentifier(), func(r *record) string { return r.stream }
	if f.GetEventType() != nil {
		expr, field = f.GetEventType(), func(r *record) string { return r.metadata["type"] }
	}
	if expr == nil {
		return nil, status.Error(codes.InvalidArgument, "a filter needs a stream or event type expression")
	}
	prefixes := expr.GetPrefix()
	if len(prefixes) > 0 {
		return func(r *record) bool {
			v := field(r)
			for _, p := range prefixes {
				if strings.HasPrefix(v, p) {
					return true
				}
			}
			return false
		}, nil
	}
	re, err := regexp.Compile(expr.GetRegex())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return func(r *record) bool { return re.MatchString(field(r)) }, nil
}

func sendAll(srv streams.Streams_ReadServer, recs []*record) error {
	for _, r := range recs {
		if err := srv.Send(eventResp(r)); err != nil {
			return err
		}
	}
	return nil
}

func eventResp(r *record) *streams.ReadResp {
	most, least := binary.BigEndian.Uint64(r.id[:8]), binary.BigEndian.Uint64(r.id[8:])
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
		Event: &streams.ReadResp_ReadEvent_RecordedEvent{
			Id: &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
				MostSignificantBits: int64(most), LeastSignificantBits: int64(least),
			}}},
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.revision,
			PreparePosition:  r.position,
			CommitPosition:   r.position,
			Metadata:         r.metadata,
			CustomMetadata:   r.custom,
			Data:             r.data,
		},
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.position},
	}}}
}

func fromProtoUUID(id *shared.UUID) ([16]byte, error) {
	var out [16]byte
	if st := id.GetStructured(); st != nil {
		binary.BigEndian.PutUint64(out[:8], uint64(st.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(out[8:], uint64(st.GetLeastSignificantBits()))
		return out, nil
	}
	u, err := uuid.Parse(id.GetString_())
	if err != nil {
		return out, errors.New("an event needs an id")
	}
	return u, nil
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

// Delete soft-deletes a stream at an expected revision. A wrong one is FailedPrecondition with the
// trailer exception: wrong-expected-version, as a node answers.
func (s *streamsService) Delete(ctx context.Context, req *streams.DeleteReq) (*streams.DeleteResp, error) {
	opts := req.GetOptions()
	if opts == nil || len(opts.GetStreamIdentifier().GetStreamName()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "a delete must name the stream")
	}
	var exp expectation
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *streams.DeleteReq_Options_Revision:
		exp = expectation{kind: expectRevision, revision: e.Revision}
	case *streams.DeleteReq_Options_NoStream:
		exp.kind = expectNoStream
	case *streams.DeleteReq_Options_StreamExists:
		exp.kind = expectExists
	default:
		exp.kind = expectAny
	}
	out := s.log.remove(string(opts.GetStreamIdentifier().GetStreamName()), exp)
	if out.conflict {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("exception", "wrong-expected-version"))
		return nil, status.Error(codes.FailedPrecondition, "wrong expected version")
	}
	return &streams.DeleteResp{PositionOption: &streams.DeleteResp_Position_{Position: &streams.DeleteResp_Position{
		CommitPosition: out.position, PreparePosition: out.position,
	}}}, nil
}
