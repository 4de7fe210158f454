//! Test controls: faults injected per request or persistently, and what
//! the rooms endpoint answers.

use super::*;

/// A fault injected into a request to one of the statistics endpoints.
/// Faults act before authentication, as a proxy or a failing server would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 500 `{"errcode":"M_UNKNOWN","error":"Internal server error"}`.
    Status500,
    /// 502 from a reverse proxy, with an HTML body.
    BadGateway,
    /// Exactly this status and body (as `application/json`): a hostile or
    /// broken Synapse (a 500 with a huge error, a page with absurd figures).
    Canned { status: u16, body: String },
    /// 429 `{"errcode":"M_LIMIT_EXCEEDED","error":"Too Many Requests","retry_after_ms":N}`
    /// with `Retry-After: ceil(N / 1000)`, as Synapse's `LimitExceededError`.
    RateLimited { retry_after_ms: u64 },
    /// Answer normally, after this long (computed after the pause, so
    /// changes made meanwhile are seen).
    Delay(Duration),
    /// 200 `application/json` whose body is truncated JSON.
    MalformedJson,
    /// Close the TCP connection without any HTTP response: the client sees
    /// a connection error, not a status.
    DropConnection,
    /// 200 whose body (the real answer) breaks off half-way: the client
    /// sees the status, then an error reading the body.
    TruncatedBody,
    /// The real answer, but `next_token` equals `from` (a server whose
    /// token does not advance). Users endpoint only.
    StaleToken,
    /// The real answer, but once a page reaches this many users (`from` +
    /// users on the page), `next_token` equals `from`: a token that stops
    /// advancing at that point of the walk, every time (make it persistent
    /// with [`Faults::set_persistent`]). Users endpoint only.
    StuckAt(u64),
    /// `200` with no users, Synapse's `total`, and no `next_token`: a server
    /// that ends the walk early. Users endpoint only.
    EmptyPage,
    /// The server goes down while handling this request: the connection
    /// closes without response and new connections are refused until
    /// [`FakeSynapse::up`].
    Down,
}

#[derive(Debug, Default)]
pub(crate) struct FaultState {
    pub(crate) queue: VecDeque<Fault>,
    pub(crate) persistent: Option<Fault>,
}

/// The fault controls of a running fake: a FIFO queue, one fault per
/// statistics request, then an optional fault applied to every request.
#[derive(Debug, Clone, Default)]
pub struct Faults(pub(crate) Arc<Mutex<FaultState>>);

impl Faults {
    /// Queues a fault for the next statistics request not yet given one.
    pub fn push(&self, fault: Fault) {
        lock(&self.0).queue.push_back(fault);
    }

    /// Queues several faults, one per request, in order.
    pub fn extend(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.0).queue.extend(faults);
    }

    /// A fault for every statistics request once the queue is empty
    /// (`None`: back to normal).
    pub fn set_persistent(&self, fault: Option<Fault>) {
        lock(&self.0).persistent = fault;
    }

    /// Forgets the queue and the persistent fault.
    pub fn clear(&self) {
        *lock(&self.0) = FaultState::default();
    }

    /// Faults still queued.
    pub fn pending(&self) -> usize {
        lock(&self.0).queue.len()
    }

    pub(crate) fn next(&self) -> Option<Fault> {
        let mut state = lock(&self.0);
        state.queue.pop_front().or_else(|| state.persistent.clone())
    }
}

/// Locks, recovering from a poisoned mutex (a panicking test thread must
/// not turn every later request into a panic).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the rooms endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomsMode {
    /// 200 with these `(room_id, estimated_size)`, sorted largest first
    /// (stable for ties), at most ten.
    Ok(Vec<(String, u64)>),
    /// 400 `M_UNKNOWN` "Endpoint requires using PostgreSQL".
    Sqlite,
    /// 500 `M_UNKNOWN` "Internal server error": PostgreSQL whose planner
    /// statistics are missing or whose `event_edges.room_id` is NULL.
    InternalError,
}

impl RoomsMode {
    /// What a fresh Synapse on `db` answers.
    pub fn natural(db: Db) -> RoomsMode {
        match db {
            Db::Sqlite => RoomsMode::Sqlite,
            Db::Postgres => RoomsMode::InternalError,
        }
    }
}
