//! [`PageReader`]: one users page read as a stream, the admin API's or the
//! module's, decoded on a blocking thread as it arrives.

use super::*;

/// A page decoder: reads the body, hands users to the sink in chunks of at
/// most the given size, and returns what follows them.
pub(super) type Decoder<T> = fn(
    &mut dyn std::io::Read,
    usize,
    &mut dyn FnMut(Vec<UserMedia>) -> ControlFlow<()>,
) -> Result<T, DecodeError>;

/// One users page being read: [`PageReader::next_chunk`] until `None`, then
/// [`PageReader::finish`] for what follows the users (the admin API's
/// `next_token` and `total`, [`PageTail`]; the module's `next_after`,
/// [`KeysetTail`]) or the error that cut it short. Dropping it cancels the
/// request.
#[derive(Debug)]
pub struct PageReader<T = PageTail> {
    rx: tokio::sync::mpsc::Receiver<Vec<UserMedia>>,
    decoding: tokio::task::JoinHandle<Result<T, DecodeError>>,
    status: u16,
    timeout: Duration,
    endpoint: Endpoint,
}

impl<T> PageReader<T> {
    /// Reads `response`'s body as a stream on a blocking thread with
    /// `decode`, handing users over in chunks of at most `chunk`.
    pub(super) fn stream(
        endpoint: Endpoint,
        response: reqwest::Response,
        chunk: usize,
        timeout: Duration,
        decode: Decoder<T>,
    ) -> PageReader<T>
    where
        T: Send + 'static,
    {
        let status = response.status().as_u16();
        let stream = response.bytes_stream().map_err(|e| {
            let kind = if e.is_timeout() {
                std::io::ErrorKind::TimedOut
            } else {
                std::io::ErrorKind::Other
            };
            std::io::Error::new(kind, describe_transport(&e))
        });
        let mut reader = SyncIoBridge::new(StreamReader::new(stream));
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<UserMedia>>(2);
        let decoding = tokio::task::spawn_blocking(move || {
            decode(
                &mut reader,
                chunk,
                &mut |users| match tx.blocking_send(users) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(_) => ControlFlow::Break(()),
                },
            )
        });
        PageReader {
            rx,
            decoding,
            status,
            timeout,
            endpoint,
        }
    }

    /// The next users, in Synapse's order; `None` when the page is over or
    /// broke off (then [`PageReader::finish`] says why).
    pub async fn next_chunk(&mut self) -> Option<Vec<UserMedia>> {
        self.rx.recv().await
    }

    /// Ends the page: its tail, or why it could not be read whole. Calling it
    /// before the chunks are exhausted cancels the rest.
    pub async fn finish(mut self) -> Result<T, SynapseError> {
        let endpoint = self.endpoint;
        self.rx.close();
        while self.rx.recv().await.is_some() {}
        let status = self.status;
        let decoded = (&mut self.decoding)
            .await
            .map_err(|e| SynapseError::Malformed {
                endpoint,
                status,
                reason: format!("the decoder failed: {e}"),
            })?;
        match decoded {
            Ok(tail) => Ok(tail),
            Err(DecodeError::Cancelled) => Err(SynapseError::Cancelled { endpoint }),
            Err(DecodeError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                Err(SynapseError::Timeout {
                    endpoint,
                    timeout: self.timeout,
                })
            }
            Err(DecodeError::Io(e)) => Err(SynapseError::Connect {
                endpoint,
                reason: format!("the answer broke off: {e}"),
            }),
            Err(DecodeError::Invalid(reason)) => Err(SynapseError::Malformed {
                endpoint,
                status,
                reason,
            }),
            Err(DecodeError::Implausible(bad)) => Err(SynapseError::Implausible {
                endpoint,
                user_id: crate::core::doc::neutral(&bad.user_id, crate::core::doc::ID_CAP),
                field: bad.field,
                value: bad.value.to_string(),
            }),
        }
    }
}
