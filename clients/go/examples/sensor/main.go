// Command sensor is the seed's fourth case, a real-time sensor stream: simulated readings
// (20-30 °C every -interval) go up a SensorFeed stream while the answers come down it, each
// printed as normal or alert; after -duration the sensor stops and the stream ends.
//
//	go run ./examples/sensor -addr 127.0.0.1:50051 [-duration 5s] [-interval 300ms]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/streamgate/streamgate/clients/go/streamgate"
)

type config struct {
	addr      string
	sensorID  string
	interval  time.Duration
	duration  time.Duration
	threshold float64
	seed      uint64
}

type result struct {
	sent, processed, alerting, stateChanges int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:50051", "streamgate address")
	flag.StringVar(&cfg.sensorID, "sensor", "sensor_01", "sensor id")
	flag.DurationVar(&cfg.interval, "interval", 300*time.Millisecond, "time between readings")
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "how long the sensor runs")
	flag.Float64Var(&cfg.threshold, "threshold", 28, "alert threshold, °C")
	flag.Uint64Var(&cfg.seed, "seed", uint64(time.Now().UnixNano()), "random seed of the simulated sensor")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration+30*time.Second)
	defer cancel()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, cfg config, out io.Writer) (result, error) {
	c, err := streamgate.Dial(ctx, cfg.addr)
	if err != nil {
		return result{}, err
	}
	defer c.Close()
	feed, err := c.SensorFeed(ctx)
	if err != nil {
		return result{}, err
	}
	defer feed.Close()

	// The simulator ends with run, even when the stream fails first.
	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	sent := make(chan sendResult, 1)
	go func() { sent <- simulate(simCtx, feed, cfg) }()

	var res result
	for resp, err := range feed.Responses() {
		if err != nil {
			return res, err
		}
		if r := resp.GetReading(); r != nil {
			res.processed++
			if r.GetAlert() {
				res.alerting++
				fmt.Fprintf(out, "⚠️ alert: sensor %s temperature too high (%.2f°C)\n", r.GetSensorId(), r.GetTempC())
			} else {
				fmt.Fprintf(out, "✅ normal: sensor %s temperature %.2f°C (%.2f°F)\n", r.GetSensorId(), r.GetTempC(), r.GetTempF())
			}
		}
		if a := resp.GetAlert(); a != nil {
			res.stateChanges++
			fmt.Fprintf(out, "   state change: %s %s at %.2f°C (threshold %.1f)\n", a.GetSensorId(), a.GetState(), a.GetTempC(), a.GetThreshold())
		}
		if rej := resp.GetRejected(); rej != nil {
			fmt.Fprintf(out, "   rejected: %s: %s\n", rej.GetSensorId(), rej.GetReason())
		}
	}
	s := <-sent
	res.sent = s.n
	if s.err != nil {
		return res, s.err
	}
	fmt.Fprintf(out, "sensor %s stream stopped: %d readings, %d alerting, %d state changes\n",
		cfg.sensorID, res.processed, res.alerting, res.stateChanges)
	return res, nil
}

type sendResult struct {
	n   int
	err error
}

// simulate sends a reading every interval until duration has passed, then closes the send
// side so the server finishes and ends the stream.
func simulate(ctx context.Context, feed *streamgate.Feed, cfg config) sendResult {
	rng := rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x5eed))
	if err := feed.Configure(&streamgate.FeedConfig{Threshold: proto.Float64(cfg.threshold)}); err != nil {
		return sendResult{err: err}
	}
	stop := time.After(cfg.duration)
	tick := time.NewTicker(cfg.interval)
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-stop:
			return sendResult{n: n, err: feed.CloseSend()}
		case <-ctx.Done():
			return sendResult{n: n, err: ctx.Err()}
		case <-tick.C:
		}
		err := feed.Send(&streamgate.SensorReading{
			SensorId:    cfg.sensorID,
			Temperature: round2(20 + 10*rng.Float64()),
			Humidity:    round2(40 + 30*rng.Float64()),
		})
		if err != nil {
			return sendResult{n: n, err: err}
		}
		n++
	}
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
