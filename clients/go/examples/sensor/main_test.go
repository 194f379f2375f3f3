package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/clients/go/internal/testenv"
)

func TestTheSensorStreamAnswersEveryReadingAndStopsAfterItsDuration(t *testing.T) {
	srv := testenv.StartServer(t)
	var out bytes.Buffer
	cfg := config{addr: srv.Addr, sensorID: "sensor_01", interval: 10 * time.Millisecond, duration: 600 * time.Millisecond, threshold: 25, seed: 7}
	res, err := run(testenv.Context(t), cfg, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if res.sent < 10 || res.processed != res.sent {
		t.Fatalf("%+v: want every one of at least 10 readings answered", res)
	}
	// Uniform 20-30 °C over a 25 °C threshold: some readings alert, some do not, and the
	// alert state changes at least once.
	if res.alerting == 0 || res.alerting == res.processed || res.stateChanges == 0 {
		t.Fatalf("%+v: want both normal and alerting readings, and state changes", res)
	}
	if got := strings.Count(out.String(), "⚠️ alert"); got != res.alerting {
		t.Fatalf("%d alert lines printed for %d alerting readings", got, res.alerting)
	}
	if !strings.Contains(out.String(), "sensor_01 stream stopped") {
		t.Fatalf("no stop line in:\n%s", out.String())
	}
}
