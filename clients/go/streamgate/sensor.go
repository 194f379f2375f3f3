package streamgate

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync"

	"google.golang.org/grpc/status"

	pb "github.com/streamgate/streamgate/clients/go/gen/streamgate/v1"
)

// Message types of SensorFeed, aliased from the generated package.
type (
	// SensorReading is one measurement sent on a Feed.
	SensorReading = pb.SensorReading
	// FeedConfig changes thresholds, hysteresis, windows and missing-data alerts for the
	// readings that follow it.
	FeedConfig = pb.FeedConfig
	// SensorFeedResponse is one of: a ProcessedReading, an Alert, a ReadingRejected or a
	// ConfigRejected (use GetReading, GetAlert, GetRejected, GetConfigRejected).
	SensorFeedResponse = pb.SensorFeedResponse
	// ProcessedReading is the server's answer to one accepted reading.
	ProcessedReading = pb.ProcessedReading
	// Alert is a state change of one sensor.
	Alert = pb.Alert
)

// SensorEvent is one answer of a feed: a ReadingEvent, AlertEvent, RejectedEvent or
// ConfigRejectedEvent. The interface is sealed (its method is unexported), so a type switch
// over the four cases is complete.
type SensorEvent interface {
	isSensorEvent()
}

// ReadingEvent is one accepted reading, processed (in the order the readings were sent).
type ReadingEvent struct{ *pb.ProcessedReading }

// AlertEvent is a state change of one sensor (firing, resolved, silent).
type AlertEvent struct{ *pb.Alert }

// RejectedEvent is a reading the server refused; the stream goes on.
type RejectedEvent struct{ *pb.ReadingRejected }

// ConfigRejectedEvent is a config the server refused; the previous config stays in force.
type ConfigRejectedEvent struct{ *pb.ConfigRejected }

func (ReadingEvent) isSensorEvent()        {}
func (AlertEvent) isSensorEvent()          {}
func (RejectedEvent) isSensorEvent()       {}
func (ConfigRejectedEvent) isSensorEvent() {}

// EventOf is the event inside a response; nil for a kind this client does not know yet.
func EventOf(resp *SensorFeedResponse) SensorEvent {
	switch {
	case resp.GetReading() != nil:
		return ReadingEvent{resp.GetReading()}
	case resp.GetAlert() != nil:
		return AlertEvent{resp.GetAlert()}
	case resp.GetRejected() != nil:
		return RejectedEvent{resp.GetRejected()}
	case resp.GetConfigRejected() != nil:
		return ConfigRejectedEvent{resp.GetConfigRejected()}
	}
	return nil
}

// Alert states.
const (
	AlertFiring   = pb.AlertState_ALERT_STATE_FIRING
	AlertResolved = pb.AlertState_ALERT_STATE_RESOLVED
	AlertSilent   = pb.AlertState_ALERT_STATE_SILENT
)

// Feed is one open SensorFeed stream. One goroutine may send (Send, Configure, CloseSend)
// while another ranges over Responses. The server reads requests only as fast as its answers
// are consumed, so a sender whose responses are not read eventually blocks instead of
// growing memory anywhere.
type Feed struct {
	stream pb.SensorService_SensorFeedClient
	ctx    context.Context
	cancel context.CancelFunc

	sendMu sync.Mutex
}

// SensorFeed opens a bidirectional sensor stream that lasts until ctx is cancelled, Close is
// called, or CloseSend is followed by the server's last answer.
func (c *Client) SensorFeed(ctx context.Context) (*Feed, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.sensor.SensorFeed(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	return &Feed{stream: stream, ctx: ctx, cancel: cancel}, nil
}

// Send sends one reading. An unset Timestamp means the time the server receives it. After
// Close (or a break out of Responses) it fails with codes.Canceled; when the server has ended
// the stream it returns io.EOF, and Responses yields the stream's final status.
func (f *Feed) Send(r *SensorReading) error {
	return f.send(&pb.SensorFeedRequest{Msg: &pb.SensorFeedRequest_Reading{Reading: r}})
}

// Configure sends a FeedConfig that applies to the readings sent after it.
func (f *Feed) Configure(cfg *FeedConfig) error {
	return f.send(&pb.SensorFeedRequest{Msg: &pb.SensorFeedRequest_Config{Config: cfg}})
}

func (f *Feed) send(req *pb.SensorFeedRequest) error {
	// grpc-go tears a cancelled stream down asynchronously and buffers sends until then;
	// checking first makes every Send after Close or a break fail at once.
	if err := f.ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	f.sendMu.Lock()
	defer f.sendMu.Unlock()
	err := f.stream.Send(req)
	if errors.Is(err, io.EOF) {
		// grpc-go reports a stream the server ended as io.EOF on Send; the real status
		// comes out of Recv, which Responses yields.
		return io.EOF
	}
	return err
}

// CloseSend says no more readings will come; the server answers what it has and ends the
// stream, which ends Responses.
func (f *Feed) CloseSend() error {
	f.sendMu.Lock()
	defer f.sendMu.Unlock()
	return f.stream.CloseSend()
}

// Responses yields the server's answers in order until the stream ends. An error ends the
// sequence and keeps its gRPC code. Breaking out of the loop cancels the whole feed (as Close
// does), since nothing would read what comes after.
func (f *Feed) Responses() iter.Seq2[*SensorFeedResponse, error] {
	return func(yield func(*SensorFeedResponse, error) bool) {
		for {
			resp, err := f.stream.Recv()
			if errors.Is(err, io.EOF) {
				f.cancel()
				return
			}
			if err != nil {
				f.cancel()
				yield(nil, err)
				return
			}
			if !yield(resp, nil) {
				f.cancel()
				return
			}
		}
	}
}

// Events is Responses with each answer as a SensorEvent, for a type switch (kinds this
// client does not know are skipped).
func (f *Feed) Events() iter.Seq2[SensorEvent, error] {
	return func(yield func(SensorEvent, error) bool) {
		for resp, err := range f.Responses() {
			if err != nil {
				yield(nil, err)
				return
			}
			if event := EventOf(resp); event != nil && !yield(event, nil) {
				return
			}
		}
	}
}

// Close cancels the feed at once; readings in flight are dropped.
func (f *Feed) Close() {
	f.cancel()
}
