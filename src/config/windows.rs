//! The HTTP/2 receive windows, chosen so flow control always stops a client before h2's
//! small-DATA-frame budget does (docs/sensor.md, "Full-speed streams").
//!
//! h2 (0.4.16 and later) charges every received DATA frame of `p` < 256 payload bytes
//! `256 - p` bytes against a per-connection budget of half the connection window, and repays
//! the charge when the application reads the frame; an exhausted budget ends the connection
//! with GOAWAY `ENHANCE_YOUR_CALM` ("too_many_data_frames"). A gRPC client that sends each
//! message in a DATA frame of its own (grpc-go does) fills a stream's window with frames
//! charged up to 50 times their flow-controlled size, so with equal windows the budget trips
//! long before flow control pushes back. hyper does not expose the budget; the windows are
//! what the server can set. The connection window is therefore sized from the stream window
//! and `--max-streams-per-connection`: every stream's window full of the smallest frames a
//! gRPC client sends for a message still costs at most the budget.

use std::num::NonZeroU32;

use super::ConfigError;

/// Frames under 5 bytes a full stream window may still hold: a sender limited by flow control
/// splits the message at the window's edge (grpc-go does), leaving a head and a tail of a
/// few bytes around each WINDOW_UPDATE; unread data spans at most a few updates (h2 sends
/// one per half window read), so 8 covers it with room to spare.
const SPLIT_FRAMES_PER_STREAM: u64 = 8;

/// The stream window by default: 16 KiB holds ~560 small readings per stream, enough for a
/// loopback or LAN sender to stream at full speed (one WINDOW_UPDATE per 8 KiB read), and
/// keeps the per-connection bound at the default 256 streams to 4 MiB of flow-controlled
/// data. A larger window buys per-stream throughput over a long round trip at the price of a
/// larger bound (and fewer streams allowed per connection).
pub(crate) const DEFAULT_STREAM_WINDOW_BYTES: NonZeroU32 = NonZeroU32::new(16 * 1024).unwrap();

/// HTTP/2's largest window (RFC 9113 §6.9.1).
const MAX_WINDOW_BYTES: u64 = (1 << 31) - 1;

/// h2's threshold: a non-empty DATA frame whose payload is below it is charged the
/// difference (`DEFAULT_DATA_FRAME_OVERHEAD_THRESHOLD` in h2's `proto/mod.rs`).
const H2_SMALL_FRAME_THRESHOLD: u64 = 256;

/// The smallest DATA frame a gRPC client sends for a message: the 5-byte length prefix of an
/// empty message, which every gRPC implementation writes together with the message. A
/// client that splits messages into smaller frames can still exhaust the budget: that is
/// the flood h2's protection exists for.
const SMALLEST_MESSAGE_FRAME_BYTES: u64 = 5;

/// The receive windows the server advertises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowWindows {
    /// SETTINGS_INITIAL_WINDOW_SIZE: unread bytes one stream may have in flight.
    pub stream_bytes: NonZeroU32,
    /// The connection window; it only sets h2's budget (half of it), since the streams'
    /// windows together stay below it.
    pub connection_bytes: NonZeroU32,
}

impl FlowWindows {
    /// The windows for `max_streams` streams of `stream_bytes` each: the connection window is
    /// twice the budget all of them can use up when full of the smallest message frames.
    pub fn for_streams(max_streams: NonZeroU32, stream: NonZeroU32) -> Result<Self, ConfigError> {
        let stream_bytes = stream.get();
        let connection = 2 * u64::from(max_streams.get()) * Self::charge_per_stream(stream_bytes);
        if connection > MAX_WINDOW_BYTES {
            return Err(ConfigError(format!(
                "--max-streams-per-connection {} with --stream-window-bytes {stream_bytes} \
                 needs a connection window of {connection} bytes, above HTTP/2's largest \
                 ({MAX_WINDOW_BYTES}): lower one of them (their product must stay under {})",
                max_streams.get(),
                Self::max_product()
            )));
        }
        let connection = u32::try_from(connection)
            .ok()
            .and_then(NonZeroU32::new)
            .expect("checked against MAX_WINDOW_BYTES, and both factors are at least 1");
        Ok(Self {
            stream_bytes: stream,
            connection_bytes: connection,
        })
    }

    /// The most h2 charges one stream's full window: whole-message frames of at least 5 bytes
    /// (251 each), plus the frames split at the window's edge (at most 255 each).
    fn charge_per_stream(stream_bytes: u32) -> u64 {
        let message_frames = u64::from(stream_bytes) / SMALLEST_MESSAGE_FRAME_BYTES;
        message_frames * (H2_SMALL_FRAME_THRESHOLD - SMALLEST_MESSAGE_FRAME_BYTES)
            + SPLIT_FRAMES_PER_STREAM * (H2_SMALL_FRAME_THRESHOLD - 1)
    }

    /// Bytes of flow-controlled data the connection's streams may hold unread at once.
    pub fn unread_bytes_bound(&self, max_streams: NonZeroU32) -> u64 {
        u64::from(max_streams.get()) * u64::from(self.stream_bytes.get())
    }

    /// About the largest `max_streams × stream_bytes` whose connection window fits HTTP/2's
    /// (the split frames' allowance makes the exact figure a little lower per stream).
    fn max_product() -> u64 {
        let per_frame = 2 * (H2_SMALL_FRAME_THRESHOLD - SMALLEST_MESSAGE_FRAME_BYTES);
        MAX_WINDOW_BYTES / per_frame * SMALLEST_MESSAGE_FRAME_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    /// h2's budget as it resolves it: half the connection window, at least 25,600 bytes.
    fn budget(w: &FlowWindows) -> u64 {
        (u64::from(w.connection_bytes.get()) / 2).max(25_600)
    }

    #[test]
    fn every_stream_full_of_the_smallest_message_frames_fits_the_budget() {
        for (n, s) in [
            (1, 8),
            (1, 16_384),
            (256, 16_384),
            (32, 65_536),
            (1_000, 4_096),
        ] {
            let w = FlowWindows::for_streams(streams(n), streams(s)).unwrap();
            // Whole messages of 5 bytes, and 8 one-byte pieces split at window edges.
            let charge = u64::from(n) * ((u64::from(s) - 8).div_ceil(5) * 251 + 8 * 255);
            assert!(
                charge <= budget(&w),
                "{n} streams of {s} bytes: charge {charge} over budget {}",
                budget(&w)
            );
        }
    }

    #[test]
    fn the_defaults_give_a_422_mb_connection_window_and_a_4_mib_unread_bound() {
        let w = FlowWindows::for_streams(streams(256), DEFAULT_STREAM_WINDOW_BYTES).unwrap();
        assert_eq!(w.stream_bytes.get(), 16_384);
        assert_eq!(w.connection_bytes.get(), 2 * 256 * (3_276 * 251 + 8 * 255));
        assert_eq!(w.connection_bytes.get(), 422_049_792);
        assert_eq!(w.unread_bytes_bound(streams(256)), 4 * 1024 * 1024);
    }

    #[test]
    fn a_product_above_what_http2_allows_is_refused_naming_both_flags() {
        let err = FlowWindows::for_streams(streams(10_000), streams(65_536)).unwrap_err();
        assert!(err.0.contains("--max-streams-per-connection"), "{err}");
        assert!(err.0.contains("--stream-window-bytes"), "{err}");
        let largest = u32::try_from(FlowWindows::max_product()).unwrap();
        assert!(FlowWindows::for_streams(streams(1), streams(largest - 100)).is_ok());
        assert!(FlowWindows::for_streams(streams(1), streams(largest + 1)).is_err());
    }

    #[test]
    fn a_zero_stream_window_is_refused_naming_the_flag() {
        let err = crate::config::Config::from_args(["streamgate", "--stream-window-bytes", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--stream-window-bytes"), "{err}");
    }
}
