//! An object's bytes as a response body: streamed from where they are as they arrive,
//! never held whole. Chunks that arrive together go out together (up to
//! [`COALESCE_BYTES`]), so that a write to the client carries more than one read from
//! the store gave.

use std::pin::Pin;
use std::task::{Context, Poll};

use aws_sdk_s3::primitives::ByteStream;
use bytes::{Bytes, BytesMut};

/// Bytes sent in one chunk at most, when more are ready.
pub const COALESCE_BYTES: usize = 512 << 10;

/// A store's stream of bytes, as a body `s3s` can send (`Send + Sync`: it is only
/// ever polled through `&mut`).
pub struct ObjectBody {
    inner: std::sync::Mutex<ByteStream>,
    /// An error that came after bytes that were sent first.
    failed: Option<std::io::Error>,
    done: bool,
}

impl ObjectBody {
    pub fn new(inner: ByteStream) -> ObjectBody {
        ObjectBody {
            inner: std::sync::Mutex::new(inner),
            failed: None,
            done: false,
        }
    }
}

impl futures::Stream for ObjectBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(err) = this.failed.take() {
            this.done = true;
            return Poll::Ready(Some(Err(err)));
        }
        if this.done {
            return Poll::Ready(None);
        }
        let inner = this
            .inner
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut first: Option<Bytes> = None;
        let mut joined: Option<BytesMut> = None;
        let ready = |first: &Option<Bytes>, joined: &Option<BytesMut>| {
            joined
                .as_ref()
                .map(BytesMut::len)
                .or(first.as_ref().map(Bytes::len))
                .unwrap_or(0)
        };
        loop {
            if ready(&first, &joined) >= COALESCE_BYTES {
                break;
            }
            match Pin::new(&mut *inner).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => match (&mut joined, &first) {
                    (Some(joined), _) => joined.extend_from_slice(&chunk),
                    (None, Some(head)) => {
                        let mut both =
                            BytesMut::with_capacity(COALESCE_BYTES.max(head.len() + chunk.len()));
                        both.extend_from_slice(head);
                        both.extend_from_slice(&chunk);
                        joined = Some(both);
                        first = None;
                    }
                    (None, None) => first = Some(chunk),
                },
                Poll::Ready(Some(Err(err))) => {
                    let err = std::io::Error::other(err);
                    if ready(&first, &joined) == 0 {
                        this.done = true;
                        return Poll::Ready(Some(Err(err)));
                    }
                    this.failed = Some(err);
                    break;
                }
                Poll::Ready(None) => {
                    this.done = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        match (joined, first) {
            (Some(joined), _) => Poll::Ready(Some(Ok(joined.freeze()))),
            (None, Some(first)) => Poll::Ready(Some(Ok(first))),
            (None, None) if this.done => Poll::Ready(None),
            (None, None) => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn every_byte_arrives_in_order() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut body = ObjectBody::new(ByteStream::from(data.clone()));
        let mut read = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.unwrap();
            assert!(chunk.len() <= data.len());
            read.extend_from_slice(&chunk);
        }
        assert!(read == data);
    }
}
