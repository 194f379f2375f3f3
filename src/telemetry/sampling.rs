//! A call's sampling decision, taken before its SERVER span exists, so a call that will not
//! be exported creates no OpenTelemetry span at all (no attributes built, no span started,
//! nothing formatted for the log layer beyond the trace id): with roots sampled at 1 %, the
//! other 99 % cost what a call in no trace costs.
//!
//! The decision is the SDK's own: [`decide`] asks the sampler the pipeline was installed with
//! ([`install`]), for the trace id the span will have. A caller's call keeps the caller's
//! trace id; a root's trace id is drawn here and handed to the SDK through
//! [`PresampledIds`] while the span starts ([`with_root_trace_id`]), so the SDK's sampler
//! sees the same id and reaches the same answer, and a ratio sampler stays consistent with
//! the children's decisions (`traceidratio` without a parent rule samples each span by its
//! trace id).

use std::cell::Cell;
use std::sync::OnceLock;

use opentelemetry::trace::{SpanId, SpanKind, TraceContextExt, TraceId};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, ShouldSample,
};

use crate::trace_context::TraceContext;

/// The installed pipeline's sampler; unset when this process exports nothing.
static SAMPLER: OnceLock<Sampler> = OnceLock::new();

thread_local! {
    /// The trace id [`PresampledIds`] hands out next on this thread (one root span's start).
    static NEXT_TRACE_ID: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// Records the sampler of the process's pipeline (the first one installed wins, as the
/// global subscriber does).
pub(super) fn install(sampler: Sampler) {
    let _ = SAMPLER.set(sampler);
}

/// What a call gets.
pub(crate) enum Decision {
    /// Recorded and exported: the call gets its SERVER span; `root` is the trace id drawn
    /// for a call without a caller, which the span must start with ([`with_root_trace_id`]).
    Export { root: Option<TraceId> },
    /// Not exported; `trace_id` is the trace the call is in (the caller's, or one drawn here).
    Skip { trace_id: [u8; 16] },
    /// No pipeline is installed in this process: the span decides nothing and exports
    /// nothing, whatever is created.
    NoPipeline,
}

/// The sampling decision of a call to `name` (`package.Service/Method`) whose caller sent
/// `caller`.
pub(crate) fn decide(caller: Option<&TraceContext>, name: &str) -> Decision {
    let Some(sampler) = SAMPLER.get() else {
        return Decision::NoPipeline;
    };
    let (parent, trace_id, root) = match caller {
        Some(caller) => {
            let remote = caller.remote_parent();
            let trace_id = remote.trace_id();
            let parent = opentelemetry::Context::new().with_remote_span_context(remote);
            (parent, trace_id, false)
        }
        None => (
            opentelemetry::Context::new(),
            RandomIdGenerator::default().new_trace_id(),
            true,
        ),
    };
    let decision = sampler
        .should_sample(Some(&parent), trace_id, name, &SpanKind::Server, &[], &[])
        .decision;
    match decision {
        SamplingDecision::Drop => Decision::Skip {
            trace_id: trace_id.to_bytes(),
        },
        SamplingDecision::RecordOnly | SamplingDecision::RecordAndSample => Decision::Export {
            root: root.then_some(trace_id),
        },
    }
}

/// Runs `start` (which creates a root span and starts it on this thread) with `trace_id` as
/// the id the SDK gives that span.
pub(crate) fn with_root_trace_id<T>(trace_id: TraceId, start: impl FnOnce() -> T) -> T {
    NEXT_TRACE_ID.with(|next| next.set(Some(trace_id)));
    let out = start();
    // Cleared whatever happened, so no later root takes an id meant for this one.
    NEXT_TRACE_ID.with(|next| next.set(None));
    out
}

/// The SDK's random ids, except a root trace id set by [`with_root_trace_id`].
#[derive(Debug, Default)]
pub(super) struct PresampledIds(RandomIdGenerator);

impl IdGenerator for PresampledIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_TRACE_ID
            .with(Cell::take)
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_span_starts_with_the_trace_id_it_was_sampled_on_and_only_that_one() {
        let ids = PresampledIds::default();
        let drawn = TraceId::from_bytes([7; 16]);
        let (first, second) =
            with_root_trace_id(drawn, || (ids.new_trace_id(), ids.new_trace_id()));
        assert_eq!(first, drawn);
        assert_ne!(second, drawn);
        assert_ne!(second, TraceId::INVALID);
        // An id set for a span that never started is not handed to a later root.
        with_root_trace_id(drawn, || ());
        assert_ne!(ids.new_trace_id(), drawn);
    }
}
