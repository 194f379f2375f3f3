//! Tells a ListPages driver when its pages have left the server: a tower wrapper around the
//! FetchService router that gives each ListPages call a [`Progress`] (as a request
//! extension, which the handler passes to the driver) and wraps the response body so that
//! every chunk reports, when the transport drops it after writing it to the connection, how
//! many pages it carried.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::{BoxFuture, Either, FutureExt};
use http_body::{Body, Frame, SizeHint};
use tonic::server::NamedService;
use tower_service::Service;

use super::progress::Progress;

/// The request extension carrying a ListPages call's [`Progress`].
#[derive(Clone, Debug)]
pub(crate) struct PageProgress(pub(crate) Arc<Progress>);

/// Wraps a FetchService server (see the module doc).
#[derive(Clone, Debug)]
pub(crate) struct TrackPages<S> {
    inner: S,
}

/// `server` (a `FetchServiceServer`) with ListPages progress tracking.
pub(crate) fn track_pages<S>(server: S) -> TrackPages<S> {
    TrackPages { inner: server }
}

impl<S: NamedService> NamedService for TrackPages<S> {
    const NAME: &'static str = S::NAME;
}

type Req = http::Request<tonic::body::Body>;
type Resp = http::Response<tonic::body::Body>;

impl<S> Service<Req> for TrackPages<S>
where
    S: Service<Req, Response = Resp, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Resp;
    type Error = Infallible;
    type Future = Either<S::Future, BoxFuture<'static, Result<Resp, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Req) -> Self::Future {
        if !req.uri().path().ends_with("/ListPages") {
            return Either::Left(self.inner.call(req));
        }
        let progress = Progress::new();
        req.extensions_mut().insert(PageProgress(progress.clone()));
        let response = self.inner.call(req);
        Either::Right(
            async move {
                let resp = response.await?;
                Ok(resp.map(|body| {
                    tonic::body::Body::new(Counted {
                        inner: body,
                        progress,
                    })
                }))
            }
            .boxed(),
        )
    }
}

/// A response body whose chunks report the pages they carry when they are dropped.
struct Counted {
    inner: tonic::body::Body,
    progress: Arc<Progress>,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        // tonic's encoder empties its buffer into every chunk it yields, and it polls the page
        // stream only from inside this call, so this chunk completes every page handed so far.
        let pages = self.progress.handed();
        let progress = self.progress.clone();
        Poll::Ready(frame.map(|f| {
            f.map(|f| {
                f.map_data(|data| {
                    Bytes::from_owner(Chunk {
                        data,
                        progress,
                        pages,
                    })
                })
            })
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One chunk of the body; dropped by h2 once every byte of it went to the connection (or
/// the stream was reset).
struct Chunk {
    data: Bytes,
    progress: Arc<Progress>,
    pages: u32,
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.progress.set_written(self.pages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of one data chunk.
    struct One(Option<Bytes>);

    impl Body for One {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
        }
    }

    #[tokio::test]
    async fn a_chunk_reports_the_pages_handed_before_it_once_dropped() {
        let progress = Progress::new();
        let mut body = Counted {
            inner: tonic::body::Body::new(One(Some(Bytes::from_static(b"two pages")))),
            progress: progress.clone(),
        };
        progress.set_handed(2);
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .expect("a frame")
            .expect("no error");
        let data = frame.into_data().expect("a data frame");
        assert_eq!(&data[..], b"two pages");
        progress.set_handed(3);
        assert_eq!(progress.written(), 0, "not written while the chunk is held");
        drop(data);
        assert_eq!(progress.written(), 2);
        assert_eq!(progress.unwritten(), 1);
    }
}
