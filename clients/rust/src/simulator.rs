//! The seed's `SensorSimulator` as a stream of requests: every interval, one reading per
//! sensor with a temperature uniform in 20–30 °C and a humidity uniform in 40–70 %, rounded to
//! two places as the seed rounds them.

use std::time::Duration;

use futures::{Stream, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_stream::wrappers::IntervalStream;

use crate::proto;
use crate::sensor::reading_request;

/// One simulated reading.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulatedReading {
    /// `sensor_01`, `sensor_02`...
    pub sensor_id: String,
    /// °C, in [20, 30].
    pub temperature: f64,
    /// %RH, in [40, 70].
    pub humidity: f64,
}

/// Simulates `sensors` sensors reporting every `interval`.
#[derive(Debug)]
pub struct SensorSimulator {
    sensor_ids: Vec<String>,
    interval: Duration,
    rng: StdRng,
}

impl SensorSimulator {
    /// `sensors` sensors named `sensor_01`... (the seed's name for its one sensor), each
    /// reporting once per `interval`, with readings from the operating system's entropy.
    pub fn new(sensors: usize, interval: Duration) -> Self {
        Self::with_rng(sensors, interval, StdRng::from_os_rng())
    }

    /// The same with a seeded generator, so that a run can be repeated reading for reading.
    pub fn seeded(sensors: usize, interval: Duration, seed: u64) -> Self {
        Self::with_rng(sensors, interval, StdRng::seed_from_u64(seed))
    }

    fn with_rng(sensors: usize, interval: Duration, rng: StdRng) -> Self {
        Self {
            sensor_ids: (1..=sensors).map(|i| format!("sensor_{i:02}")).collect(),
            interval,
            rng,
        }
    }

    /// The ids of the simulated sensors.
    pub fn sensor_ids(&self) -> &[String] {
        &self.sensor_ids
    }

    /// The next round of readings, one per sensor.
    pub fn next_round(&mut self) -> Vec<SimulatedReading> {
        let rng = &mut self.rng;
        self.sensor_ids
            .iter()
            .map(|id| SimulatedReading {
                sensor_id: id.clone(),
                temperature: round2(rng.random_range(20.0..=30.0)),
                humidity: round2(rng.random_range(40.0..=70.0)),
            })
            .collect()
    }

    /// An endless stream of rounds, the first after one interval (as the seed sleeps before
    /// each reading). Stop it with `take_until`, `take` or by dropping it.
    pub fn rounds(mut self) -> impl Stream<Item = Vec<SimulatedReading>> + Send + 'static {
        let mut ticks = tokio::time::interval_at(
            tokio::time::Instant::now() + self.interval,
            self.interval.max(Duration::from_millis(1)),
        );
        // A slow consumer must not be paid back with a burst of catch-up readings.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        IntervalStream::new(ticks).map(move |_| self.next_round())
    }

    /// [`rounds`](Self::rounds) flattened into SensorFeed requests.
    pub fn requests(self) -> impl Stream<Item = proto::SensorFeedRequest> + Send + 'static {
        self.rounds().flat_map(|round| {
            futures::stream::iter(
                round
                    .into_iter()
                    .map(|r| reading_request(r.sensor_id, r.temperature, r.humidity)),
            )
        })
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_stay_in_the_seed_ranges_with_two_decimals() {
        let mut sim = SensorSimulator::seeded(3, Duration::from_millis(500), 7);
        for _ in 0..1000 {
            for r in sim.next_round() {
                assert!((20.0..=30.0).contains(&r.temperature), "{r:?}");
                assert!((40.0..=70.0).contains(&r.humidity), "{r:?}");
                assert_eq!(round2(r.temperature), r.temperature);
            }
        }
    }

    #[test]
    fn sensors_are_named_like_the_seed_sensor() {
        let sim = SensorSimulator::seeded(2, Duration::from_millis(1), 1);
        assert_eq!(sim.sensor_ids(), ["sensor_01", "sensor_02"]);
    }

    #[test]
    fn a_seeded_simulator_repeats_itself() {
        let a = SensorSimulator::seeded(2, Duration::from_millis(1), 42).next_round();
        let b = SensorSimulator::seeded(2, Duration::from_millis(1), 42).next_round();
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn each_round_has_one_reading_per_sensor() {
        let sim = SensorSimulator::seeded(2, Duration::from_millis(5), 3);
        let rounds: Vec<_> = sim.rounds().take(4).collect().await;
        assert_eq!(rounds.len(), 4);
        for round in &rounds {
            let ids: Vec<_> = round.iter().map(|r| r.sensor_id.as_str()).collect();
            assert_eq!(ids, ["sensor_01", "sensor_02"]);
        }
    }
}
