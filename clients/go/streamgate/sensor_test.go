package streamgate_test

import (
	"math"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	pb "github.com/streamgate/streamgate/clients/go/gen/streamgate/v1"
	"github.com/streamgate/streamgate/clients/go/internal/testenv"
	"github.com/streamgate/streamgate/clients/go/streamgate"
)

// feedAll sends msgs (readings or configs) on one feed, closes the send side and returns
// every response until the server ends the stream.
func feedAll(t *testing.T, c *streamgate.Client, msgs ...any) []*streamgate.SensorFeedResponse {
	t.Helper()
	feed, err := c.SensorFeed(testContext(t))
	if err != nil {
		t.Fatalf("SensorFeed: %v", err)
	}
	defer feed.Close()
	sent := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			var err error
			switch m := m.(type) {
			case *streamgate.SensorReading:
				err = feed.Send(m)
			case *streamgate.FeedConfig:
				err = feed.Configure(m)
			}
			if err != nil {
				sent <- err
				return
			}
		}
		sent <- feed.CloseSend()
	}()
	var out []*streamgate.SensorFeedResponse
	for resp, err := range feed.Responses() {
		if err != nil {
			t.Fatalf("Responses: %v", err)
		}
		out = append(out, resp)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	return out
}

func reading(id string, temp float64) *streamgate.SensorReading {
	return &streamgate.SensorReading{SensorId: id, Temperature: temp, Humidity: 50}
}

func split(resps []*streamgate.SensorFeedResponse) (readings []*streamgate.ProcessedReading, alerts []*streamgate.Alert, rejected []*pb.ReadingRejected, configRejected []*pb.ConfigRejected) {
	for _, r := range resps {
		switch {
		case r.GetReading() != nil:
			readings = append(readings, r.GetReading())
		case r.GetAlert() != nil:
			alerts = append(alerts, r.GetAlert())
		case r.GetRejected() != nil:
			rejected = append(rejected, r.GetRejected())
		case r.GetConfigRejected() != nil:
			configRejected = append(configRejected, r.GetConfigRejected())
		}
	}
	return
}

func TestSensorFeedAnswersEveryReadingInOrderWithFahrenheit(t *testing.T) {
	c := testenv.StartServer(t).Dial(t)
	var msgs []any
	for i := range 200 {
		msgs = append(msgs, reading("s1", 20+float64(i%5)))
	}
	readings, _, rejected, _ := split(feedAll(t, c, msgs...))
	if len(readings) != 200 || len(rejected) != 0 {
		t.Fatalf("%d readings and %d rejections, want 200 and 0", len(readings), len(rejected))
	}
	for i, r := range readings {
		want := 20 + float64(i%5)
		if r.GetSensorId() != "s1" || r.GetTempC() != want || math.Abs(r.GetTempF()-(want*9/5+32)) > 1e-9 || r.GetHumidity() != 50 {
			t.Fatalf("reading %d = %v, want s1 %.1f °C = %.1f °F", i, r, want, want*9/5+32)
		}
		if r.GetTimestamp() == nil {
			t.Fatalf("reading %d has no timestamp (receipt time expected)", i)
		}
	}
}

// Readings 25, 29, 30, 27 against the default 28 °C: the alert flag follows each reading, but
// only the two state changes are Alerts: firing at 29, resolved at 27.
func TestSensorFeedAlertsOnlyOnStateChanges(t *testing.T) {
	c := testenv.StartServer(t).Dial(t)
	readings, alerts, _, _ := split(feedAll(t, c,
		reading("s1", 25), reading("s1", 29), reading("s1", 30), reading("s1", 27)))
	flags := []bool{}
	for _, r := range readings {
		flags = append(flags, r.GetAlert())
	}
	if len(flags) != 4 || flags[0] || !flags[1] || !flags[2] || flags[3] {
		t.Fatalf("alert flags %v, want [false true true false]", flags)
	}
	if len(alerts) != 2 {
		t.Fatalf("%d alerts (%v), want 2: firing then resolved", len(alerts), alerts)
	}
	if alerts[0].GetState() != streamgate.AlertFiring || alerts[0].GetTempC() != 29 || alerts[0].GetThreshold() != 28 || alerts[0].GetSensorId() != "s1" {
		t.Fatalf("first alert %v, want s1 firing at 29 over 28", alerts[0])
	}
	if alerts[1].GetState() != streamgate.AlertResolved || alerts[1].GetTempC() != 27 {
		t.Fatalf("second alert %v, want resolved at 27", alerts[1])
	}
}

func TestFeedConfigChangesTheThresholdForLaterReadingsOfThatSensor(t *testing.T) {
	c := testenv.StartServer(t).Dial(t)
	readings, _, _, _ := split(feedAll(t, c,
		reading("a", 26), reading("b", 26),
		&streamgate.FeedConfig{SensorId: "a", Threshold: proto.Float64(25)},
		reading("a", 26), reading("b", 26)))
	if len(readings) != 4 {
		t.Fatalf("%d readings, want 4", len(readings))
	}
	got := []bool{readings[0].GetAlert(), readings[1].GetAlert(), readings[2].GetAlert(), readings[3].GetAlert()}
	if got[0] || got[1] || !got[2] || got[3] {
		t.Fatalf("alert flags %v, want only a's reading after its threshold dropped to 25 to alert", got)
	}
}

func TestBadReadingsAreRejectedInBandAndTheStreamGoesOn(t *testing.T) {
	c := testenv.StartServer(t).Dial(t)
	readings, _, rejected, _ := split(feedAll(t, c,
		reading("s1", math.NaN()), reading("", 20), reading("s1", math.Inf(1)), reading("s1", -300), reading("s1", 21)))
	wantCodes := []pb.RejectCode{
		pb.RejectCode_REJECT_CODE_NOT_FINITE, pb.RejectCode_REJECT_CODE_EMPTY_SENSOR_ID,
		pb.RejectCode_REJECT_CODE_NOT_FINITE, pb.RejectCode_REJECT_CODE_OUT_OF_RANGE,
	}
	if len(rejected) != len(wantCodes) {
		t.Fatalf("%d rejections (%v), want %d", len(rejected), rejected, len(wantCodes))
	}
	for i, r := range rejected {
		if r.GetCode() != wantCodes[i] || r.GetReason() == "" {
			t.Fatalf("rejection %d = %v, want code %s with a reason", i, r, wantCodes[i])
		}
	}
	if len(readings) != 1 || readings[0].GetTempC() != 21 {
		t.Fatalf("readings %v, want only the good 21 °C one", readings)
	}
}

func TestAnInconsistentFeedConfigIsRejectedInBand(t *testing.T) {
	c := testenv.StartServer(t).Dial(t)
	readings, _, _, configRejected := split(feedAll(t, c,
		&streamgate.FeedConfig{Warn: proto.Float64(35), Crit: proto.Float64(30)},
		reading("s1", 29)))
	if len(configRejected) != 1 || configRejected[0].GetReason() == "" {
		t.Fatalf("config rejections %v, want one with a reason", configRejected)
	}
	if len(readings) != 1 || !readings[0].GetAlert() {
		t.Fatalf("readings %v, want 29 °C to alert under the default threshold still in force", readings)
	}
}

func TestBreakingOutOfResponsesEndsTheFeed(t *testing.T) {
	c := testenv.StartServer(t).Dial(t)
	feed, err := c.SensorFeed(testContext(t))
	if err != nil {
		t.Fatalf("SensorFeed: %v", err)
	}
	if err := feed.Send(reading("s1", 22)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	for resp, err := range feed.Responses() {
		if err != nil || resp.GetReading().GetTempC() != 22 {
			t.Fatalf("first response %v, %v", resp, err)
		}
		break
	}
	// The stream is cancelled: sending fails at once with CANCELED instead of buffering.
	requireCode(t, feed.Send(reading("s1", 23)), codes.Canceled, "")
}
