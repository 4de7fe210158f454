//! Network faults: a listener that can go down and come back on the same
//! port, connections that can be cut.

use super::*;

/// Up/down state shared by the listener, the handlers and the handle.
#[derive(Debug)]
pub(crate) struct Power {
    /// Whether the server should accept connections.
    pub(crate) want_up: watch::Sender<bool>,
    /// Whether the listener is bound right now.
    pub(crate) listening: watch::Sender<bool>,
    /// Parent of every connection accepted since the last time the server
    /// came up; cancelled when it goes down.
    pub(crate) generation: Mutex<CancellationToken>,
    /// Parent of every generation; cancelled when the fake is dropped.
    pub(crate) root: CancellationToken,
}

impl Power {
    /// Stops accepting and cuts every open connection (the listener drops
    /// its socket on its next turn).
    pub(crate) fn go_down(&self) {
        self.want_up.send_replace(false);
        let mut generation = lock(&self.generation);
        generation.cancel();
        *generation = self.root.child_token();
    }
}

/// A TCP listener that can be closed and reopened on the same address, and
/// whose connections can be cut from a handler.
pub(crate) struct FakeListener {
    pub(crate) addr: SocketAddr,
    pub(crate) listener: Option<TcpListener>,
    pub(crate) want_up: watch::Receiver<bool>,
    pub(crate) power: Arc<Power>,
}

impl Listener for FakeListener {
    type Io = FakeIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (FakeIo, SocketAddr) {
        loop {
            let up = *self.want_up.borrow_and_update();
            match (&self.listener, up) {
                (Some(listener), true) => {
                    tokio::select! {
                        _ = self.want_up.changed() => {}
                        accepted = listener.accept() => match accepted {
                            Ok((stream, peer)) if *self.want_up.borrow() => {
                                let token = lock(&self.power.generation).child_token();
                                return (FakeIo::new(stream, token), peer);
                            }
                            // Accepted just as the server went down.
                            Ok(_) => {}
                            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                        },
                    }
                }
                (Some(_), false) => {
                    self.listener = None;
                    self.power.listening.send_replace(false);
                }
                (None, true) => match TcpListener::bind(self.addr).await {
                    Ok(listener) => {
                        self.listener = Some(listener);
                        self.power.listening.send_replace(true);
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                },
                (None, false) => {
                    let _ = self.want_up.changed().await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// A connection that fails every read and write once its token is
/// cancelled, so hyper drops it without writing another byte.
pub(crate) struct FakeIo {
    pub(crate) stream: TcpStream,
    pub(crate) token: CancellationToken,
    pub(crate) cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl FakeIo {
    pub(crate) fn new(stream: TcpStream, token: CancellationToken) -> FakeIo {
        let cancelled = Box::pin(token.clone().cancelled_owned());
        FakeIo {
            stream,
            token,
            cancelled,
        }
    }

    /// Ready with an error once cut; registers the waker otherwise.
    pub(crate) fn poll_cut(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        self.cancelled
            .as_mut()
            .poll(cx)
            .is_ready()
            .then(|| io::Error::new(io::ErrorKind::ConnectionAborted, "fake: connection cut"))
    }
}

impl AsyncRead for FakeIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.poll_cut(cx) {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for FakeIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(err) = this.poll_cut(cx) {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.poll_cut(cx) {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// What a handler knows of its connection: the switch that cuts it.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    pub(crate) cut: CancellationToken,
}

impl Connected<IncomingStream<'_, FakeListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, FakeListener>) -> Conn {
        Conn {
            cut: stream.io().token.clone(),
        }
    }
}
