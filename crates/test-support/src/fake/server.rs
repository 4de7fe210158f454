//! The server: [`FakeSynapse`], its dataset, its request log and its
//! controls.

use super::*;

/// One request received, for assertions on how a client behaved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// When it arrived.
    pub at: Instant,
    /// How long after the fake started it arrived.
    pub since_start: Duration,
    pub method: String,
    pub path: String,
    /// The raw query string (without `?`), empty if none.
    pub query: String,
    /// The status answered; `None` while in flight or if the connection was
    /// cut without an answer.
    pub status: Option<u16>,
}

/// Rows of one users query, in answer order: (user index, count, length).
pub(crate) type Rows = Arc<Vec<(u32, u64, Option<u64>)>>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct QueryKey {
    pub(crate) order_by: SortBy,
    pub(crate) backwards: bool,
    pub(crate) window: Window,
    pub(crate) search: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Data {
    pub(crate) dataset: Dataset,
    pub(crate) db: Db,
    pub(crate) rooms: RoomsMode,
    /// The official room list ([`FakeSynapse::set_room_list`]).
    pub(crate) room_list: Vec<FakeRoom>,
    /// The warden's module, when loaded ([`FakeSynapse::set_module`]).
    pub(crate) module: Option<super::module::FakeModule>,
    pub(crate) page_cap: Option<usize>,
    /// Answers per query, until the dataset or the backend changes.
    pub(crate) cache: HashMap<QueryKey, Rows>,
    /// Media uploaded with an ID ([`FakeSynapse::upload`]).
    pub(crate) media: Vec<media::FakeMedia>,
    /// Whether server notices are enabled, and those sent: (txn ID, user,
    /// body, event ID).
    pub(crate) server_notices: Option<Vec<(String, String, String, String)>>,
    /// Rooms' events and the room clean-up tasks.
    pub(crate) room_tasks: room_tasks::RoomTasks,
}

impl Data {
    pub(crate) fn changed(&mut self) {
        self.cache.clear();
    }

    pub(crate) fn rows(&mut self, key: &QueryKey) -> Rows {
        if let Some(rows) = self.cache.get(key) {
            return rows.clone();
        }
        let users = &self.dataset.users;
        let db = self.db;
        let search = key.search.as_deref().map(|t| Search::new(t, db));
        let mut rows: Vec<(u32, u64, Option<u64>)> = users
            .recs
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                search
                    .as_ref()
                    .is_none_or(|s| s.matches(&r.user_id, r.displayname.as_deref()))
            })
            .filter_map(|(i, r)| {
                let (count, length) = r.window(&users.media, key.window);
                (count > 0).then_some((i as u32, count, length))
            })
            .collect();
        let sort_key = |&(i, count, length): &(u32, u64, Option<u64>)| {
            let r = &users.recs[i as usize];
            SortKey {
                user_id: &r.user_id,
                displayname: r.displayname.as_deref(),
                count,
                length,
            }
        };
        rows.sort_by(|a, b| compare(sort_key(a), sort_key(b), key.order_by, key.backwards, db));
        let rows = Arc::new(rows);
        self.cache.insert(key.clone(), rows.clone());
        rows
    }
}

#[derive(Debug)]
pub(crate) struct App {
    pub(crate) data: Mutex<Data>,
    pub(crate) faults: Faults,
    pub(crate) power: Arc<Power>,
    pub(crate) log: Mutex<Vec<LoggedRequest>>,
    pub(crate) started: Instant,
    /// The server admin's token Synapse accepts now.
    pub(crate) admin_token: Mutex<String>,
    /// Whether the homeserver delegates auth (MSC3861: MAS).
    pub(crate) delegated_auth: Mutex<DelegatedAuth>,
}

/// Whether the fake homeserver delegates authentication (MSC3861: MAS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelegatedAuth {
    /// Synapse's own: both `auth_metadata` endpoints answer 404.
    No,
    /// Delegated: both endpoints answer the issuer `https://auth.fake.test/`.
    Yes,
    /// Delegated, and only MSC2965's unstable endpoint answers (an older
    /// homeserver).
    UnstableOnly,
}

/// The running fake. Stops (cutting every connection) when dropped.
#[derive(Debug)]
pub struct FakeSynapse {
    pub(crate) app: Arc<App>,
    pub(crate) addr: SocketAddr,
    pub(crate) server: JoinHandle<()>,
}

impl Drop for FakeSynapse {
    fn drop(&mut self) {
        self.app.power.root.cancel();
        self.server.abort();
    }
}

impl FakeSynapse {
    /// Serves `dataset` as a Synapse on `db` on a free loopback port. The
    /// rooms endpoint answers [`RoomsMode::natural`] for `db`.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub async fn start(dataset: Dataset, db: Db) -> FakeSynapse {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fake Synapse");
        let addr = listener.local_addr().expect("the fake's address");
        let root = CancellationToken::new();
        let (want_up, want_up_rx) = watch::channel(true);
        let power = Arc::new(Power {
            want_up,
            listening: watch::Sender::new(true),
            generation: Mutex::new(root.child_token()),
            root,
        });
        let app = Arc::new(App {
            data: Mutex::new(Data {
                dataset,
                db,
                rooms: RoomsMode::natural(db),
                room_list: Vec::new(),
                module: None,
                page_cap: None,
                cache: HashMap::new(),
                media: Vec::new(),
                server_notices: None,
                room_tasks: Default::default(),
            }),
            faults: Faults::default(),
            power: power.clone(),
            log: Mutex::new(Vec::new()),
            started: Instant::now(),
            admin_token: Mutex::new(ADMIN_TOKEN.to_owned()),
            delegated_auth: Mutex::new(DelegatedAuth::No),
        });
        let listener = FakeListener {
            addr,
            listener: Some(listener),
            want_up: want_up_rx,
            power,
        };
        let router = Router::new().fallback(handle).with_state(app.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<Conn>(),
            )
            .await;
        });
        FakeSynapse { app, addr, server }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A server admin's token ([`ADMIN_TOKEN`]).
    pub fn admin_token(&self) -> &'static str {
        ADMIN_TOKEN
    }

    /// Rotates the server admin's token: from now on only `token` is one
    /// (the old one answers 401 `M_UNKNOWN_TOKEN`, as a revoked token).
    pub fn set_admin_token(&self, token: &str) {
        *lock(&self.app.admin_token) = token.to_owned();
    }

    /// Makes the homeserver delegate auth (MSC3861, as under MAS) or not:
    /// which `auth_metadata` endpoints answer 200 (the others 404
    /// `M_UNRECOGNIZED`, as Synapse without MAS).
    pub fn set_delegated_auth(&self, delegated: DelegatedAuth) {
        *lock(&self.app.delegated_auth) = delegated;
    }

    /// A valid token of a user who is not a server admin ([`USER_TOKEN`]).
    pub fn user_token(&self) -> &'static str {
        USER_TOKEN
    }

    /// The dataset's server name.
    pub fn server_name(&self) -> String {
        lock(&self.app.data).dataset.server_name.clone()
    }

    /// The backend the fake imitates.
    pub fn db(&self) -> Db {
        lock(&self.app.data).db
    }

    /// Switches the backend (the rooms answer is left as it is).
    pub fn set_db(&self, db: Db) {
        let mut data = lock(&self.app.data);
        data.db = db;
        data.changed();
    }

    /// Sets what the rooms endpoint answers.
    pub fn set_rooms(&self, rooms: RoomsMode) {
        lock(&self.app.data).rooms = rooms;
    }

    /// Answers at most `cap` users per page whatever the limit, as
    /// matrix-media-repo does (50); `next_token` uses the capped limit.
    pub fn set_page_cap(&self, cap: Option<usize>) {
        lock(&self.app.data).page_cap = cap;
    }

    /// The fault controls (a handle: clone it into other tasks freely).
    pub fn faults(&self) -> Faults {
        self.app.faults.clone()
    }

    /// Queues faults for the next statistics requests, one each.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.app.faults.extend(faults);
    }

    /// The query strings of the users-endpoint requests received so far.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.app.log)
            .iter()
            .filter(|r| r.path == USERS_PATH)
            .map(|r| r.query.clone())
            .collect()
    }

    /// Every request received so far, any path, in arrival order.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.app.log).clone()
    }

    /// How many requests arrived so far, any path.
    pub fn request_count(&self) -> usize {
        lock(&self.app.log).len()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        lock(&self.app.log).clear();
    }

    /// Reads the current dataset.
    pub fn with_dataset<R>(&self, read: impl FnOnce(&Dataset) -> R) -> R {
        read(&lock(&self.app.data).dataset)
    }

    /// Changes the dataset (as uploads, deletions and renames would); the
    /// next requests see the change.
    pub fn update(&self, change: impl FnOnce(&mut Dataset)) {
        let mut data = lock(&self.app.data);
        change(&mut data.dataset);
        data.changed();
    }

    /// Adds a user, or replaces the one with the same ID.
    pub fn insert_user(&self, user: FakeUser) {
        self.update(|d| d.users.push(user));
    }

    /// Removes a user (as if all their media were deleted); whether there
    /// was one.
    pub fn remove_user(&self, user_id: &str) -> bool {
        let mut removed = false;
        self.update(|d| removed = d.users.remove(user_id).is_some());
        removed
    }

    /// Adds media rows to a user (created without display name if absent).
    pub fn add_media(&self, user_id: &str, media: &[Media]) {
        self.update(|d| d.users.add_media(user_id, media));
    }

    /// Goes down: open connections are cut and new ones refused, on return.
    pub async fn down(&self) {
        self.app.power.go_down();
        let mut listening = self.app.power.listening.subscribe();
        let _ = listening.wait_for(|up| !*up).await;
    }

    /// Comes back on the same port; listening on return.
    ///
    /// # Panics
    ///
    /// If the port cannot be bound again within five seconds.
    pub async fn up(&self) {
        self.app.power.want_up.send_replace(true);
        let mut listening = self.app.power.listening.subscribe();
        tokio::time::timeout(Duration::from_secs(5), listening.wait_for(|up| *up))
            .await
            .expect("the fake Synapse could not listen on its port again")
            .expect("the fake's listener is gone");
    }

    /// Whether the fake is down (or going down).
    pub fn is_down(&self) -> bool {
        !*self.app.power.want_up.borrow()
    }

    /// Same as [`FakeSynapse::down`].
    pub async fn stop(&mut self) {
        self.down().await;
    }

    /// Same as [`FakeSynapse::up`].
    pub async fn restart(&mut self) {
        self.up().await;
    }
}
