//! Answers to the bot's commands, shared by the Matrix bot and the
//! `synapse-warden stats ...` command line: the same grammar
//! ([`crate::core::commands`]), the same calls to Synapse, the same rendering
//! ([`crate::core::text::replies`]).
//!
//! - `top`: from the daemon's last walk when it is fresh enough (the answer
//!   says how old), else one call to Synapse ordered and limited on its side
//!   (`order_by=<metric>&dir=b&limit=N`, plus `from_ts` for a window). Never
//!   a full walk.
//! - `user`: a user ID is looked up with its localpart as search term, and
//!   the results filtered for that exact ID (Synapse's search is a `LIKE`
//!   pattern: `_` and `%` are wildcards, and it also matches display
//!   names), paging until found.
//! - `rooms`: Synapse's largest rooms, or a sentence saying why it cannot
//!   answer (SQLite; its known 500 on fresh PostgreSQL servers).
//! - `check`, `policies`, `status`, `reload`: through a [`super::context::DaemonHandle`]
//!   when the daemon runs; without one (the command line) a sentence says
//!   so.
//!
//! Errors never escape: every failure becomes a reply that says what went
//! wrong (Synapse's errors never hold the token).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use async_trait::async_trait;

use super::context::{Origin, Reply, StatsContext, rules_in_force};
use super::{EXIT_ERROR, EXIT_OK, bold_terminal, synapse_client, valid_policy};

use crate::clock::now_ms;
use crate::core::alerting::silences::Silence;
use crate::core::commands::{Command, UserQuery, may_silence};
use crate::core::doc::{Block, Doc, Message};
use crate::core::model::usage::TimeRange;
use crate::core::text;
use crate::core::text::replies::{self, Health, StatusView, TopSource, TopView};
use crate::synapse::{
    Direction, OrderBy, PageLimit, SearchTerm, SynapseClient, SynapseError, UsersMediaQuery,
};

/// Users per page when looking for one user ID.
const USER_PAGE: u64 = 500;
/// Pages read at most when looking for one user ID.
const USER_PAGES: u32 = 20;
/// Matches read for a search.
const SEARCH_LIMIT: u64 = 100;

/// Answers `command` at `now_ms`.
pub async fn answer(command: &Command, ctx: &StatsContext, origin: &Origin, now_ms: u64) -> Reply {
    match command {
        Command::Help(topic) => Reply::ok(replies::help(&ctx.prefix, *topic)),
        Command::Top { n, metric, window } => top(ctx, *n, *metric, *window, now_ms).await,
        Command::User(query) => user(ctx, query).await,
        Command::Rooms { abandoned } => rooms(ctx, *abandoned).await,
        Command::Check => match &ctx.daemon {
            Some(d) => match checked(d.as_ref(), origin).await {
                Ok(outcome) => {
                    let mut doc = replies::check(&outcome, ctx.max_lines);
                    let silences = d.silences().await;
                    let silenced = outcome
                        .violations
                        .iter()
                        .filter(|v| silences.silencing(v, now_ms).is_some())
                        .count();
                    if silenced > 0 {
                        doc.push(Block::Paragraph(text::silences::in_check(
                            &ctx.prefix,
                            silenced,
                        )));
                    }
                    Reply::ok(doc)
                }
                Err(e) => Reply::failed(text::common::check_failed(&e)),
            },
            None => Reply::failed(replies::needs_daemon(command)),
        },
        Command::Silence(request) => match (&ctx.daemon, origin) {
            (Some(_), Origin::Matrix { level, .. })
                if !may_silence(request, *level, action_level(ctx).await) =>
            {
                Reply::failed(text::silences::everyone_not_allowed(
                    action_level(ctx).await,
                ))
            }
            (Some(d), Origin::Matrix { sender, .. }) => {
                match d.silence(request.clone(), sender).await {
                    Ok((silence, matches)) => {
                        Reply::ok(text::silences::created(&silence, matches, now_ms))
                    }
                    Err(e) => Reply::failed(text::silences::refused(&e)),
                }
            }
            _ => Reply::failed(replies::needs_daemon(command)),
        },
        Command::Unsilence(id) => match (&ctx.daemon, origin) {
            (Some(d), Origin::Matrix { sender, .. }) => match d.unsilence(*id, sender).await {
                Ok((silence, matches)) => {
                    Reply::ok(text::silences::ended(&silence, sender, matches))
                }
                Err(e) => Reply::failed(text::silences::refused(&e)),
            },
            _ => Reply::failed(replies::needs_daemon(command)),
        },
        Command::Silences => match &ctx.daemon {
            Some(d) => {
                let silences = d.silences().await;
                let active: Vec<&Silence> = silences.active(now_ms).collect();
                Reply::ok(text::silences::list(&active, now_ms))
            }
            None => Reply::failed(replies::needs_daemon(command)),
        },
        Command::Policies => match (&ctx.daemon, &ctx.config) {
            (Some(d), _) => Reply::ok(replies::policies(&d.config().await.rules)),
            (None, Some(config)) => Reply::ok(replies::policies(&config.rules)),
            (None, None) => Reply::failed(replies::needs_daemon(command)),
        },
        Command::Reload => match &ctx.daemon {
            Some(d) => match d.reload().await {
                Ok(text) => Reply::ok(text::common::reloaded(&text)),
                Err(e) => Reply::failed(text::common::not_reloaded(&e)),
            },
            None => Reply::failed(replies::needs_daemon(command)),
        },
        Command::Status => status(ctx, origin, now_ms).await,
        Command::Media { .. } | Command::Preview(_) | Command::Confirm { .. } => {
            super::actions::answer(command, ctx, origin, now_ms, false).await
        }
        Command::Trend { .. } | Command::Growth { .. } => {
            super::trend::answer(command, ctx, now_ms).await.0
        }
    }
}

/// A check: its run's outcome. One that joins a run in progress is told
/// at once that the result comes when that run ends (no walk of its own).
async fn checked(
    daemon: &dyn super::context::DaemonHandle,
    origin: &Origin,
) -> Result<crate::core::engine::eval::RunOutcome, String> {
    let pending = daemon.run_check().await?;
    if pending.joined
        && let Origin::Matrix {
            progress: Some(progress),
            ..
        } = origin
    {
        let _ = progress.send(text::common::check_joined().message());
    }
    pending
        .outcome
        .await
        .map_err(|_| "the daemon is stopping".to_owned())?
}

/// `matrix.action_power_level` of the policy in force (its default
/// without one).
async fn action_level(ctx: &StatsContext) -> i64 {
    rules_in_force(ctx)
        .await
        .and_then(|c| c.matrix.as_ref().map(|m| m.action_power_level))
        .unwrap_or(crate::core::policy::DEFAULT_ACTION_POWER_LEVEL)
}

async fn top(
    ctx: &StatsContext,
    n: u32,
    metric: crate::core::model::usage::MediaMetric,
    window: Option<Duration>,
    now_ms: u64,
) -> Reply {
    if let Some(daemon) = &ctx.daemon
        && let Some(snapshot) = daemon.snapshot().await
        && snapshot.fresh_for(now_ms, ctx.snapshot_max_age)
        && let Some((users, total)) = snapshot.top(metric, window, n as usize)
    {
        return Reply::ok(replies::top(&TopView {
            n,
            metric,
            window,
            users,
            total,
            source: TopSource::LastWalk {
                age: snapshot.age(now_ms),
            },
        }));
    }
    let Some(limit) = PageLimit::new(u64::from(n)) else {
        return Reply::failed(text::top::bad_n());
    };
    let mut query = UsersMediaQuery::new()
        .limit(limit)
        .order(OrderBy::from(metric), Direction::Backward);
    if let Some(w) = window {
        // An open upper bound: no `until_ts`, so the range is always valid.
        query = match query.range(TimeRange::last(w, now_ms)) {
            Ok(q) => q,
            Err(e) => return Reply::failed(text::top::bad_window(&e.to_string())),
        };
    }
    match ctx.synapse.users_media(&query).await {
        Ok(page) => {
            let mut users = page.users;
            // PostgreSQL sorts unknown sizes (pending uploads) first in a
            // descending order; show them last.
            users.sort_by_key(|u| std::cmp::Reverse(metric.of(u)));
            Reply::ok(replies::top(&TopView {
                n,
                metric,
                window,
                users: &users,
                total: page.total,
                source: TopSource::Live,
            }))
        }
        Err(e) => Reply::failed(text::top::failed(&e.to_string())),
    }
}

async fn user(ctx: &StatsContext, query: &UserQuery) -> Reply {
    match query {
        UserQuery::Exact(user_id) => match find_user(&ctx.synapse, user_id).await {
            Ok(found) => {
                let mut reply = replies::user(query, found.as_slice(), false, ctx.max_lines);
                if let Some(rules) = rules_in_force(ctx).await {
                    let limits = crate::core::engine::limits::effective_user_all(
                        &rules.rules,
                        user_id,
                        now_ms(),
                    );
                    for block in text::overrides::effective_limits(&limits) {
                        reply.push(block);
                    }
                }
                Reply::ok(reply)
            }
            Err(e) => Reply::failed(text::user::lookup_failed(&e.to_string())),
        },
        UserQuery::Search(term) => {
            let Ok(term_q) = SearchTerm::new(term.clone()) else {
                return Reply::failed(text::user::unsearchable());
            };
            let Some(limit) = PageLimit::new(SEARCH_LIMIT) else {
                return Reply::failed(text::user::unsearchable());
            };
            let q = UsersMediaQuery::new()
                .limit(limit)
                .order(OrderBy::MediaLength, Direction::Backward)
                .search(term_q);
            match ctx.synapse.users_media(&q).await {
                Ok(page) => Reply::ok(replies::user(
                    query,
                    &page.users,
                    page.next_token.is_some(),
                    ctx.max_lines,
                )),
                Err(e) => Reply::failed(text::user::search_failed(&e.to_string())),
            }
        }
    }
}

/// The media usage of exactly `user_id`, or `None` when Synapse does not
/// list it (no local media). Searches by localpart, then filters: the search
/// is a case-insensitive (SQLite) or case-sensitive (PostgreSQL) `LIKE`
/// pattern over localparts and display names.
pub async fn find_user(
    synapse: &SynapseClient,
    user_id: &str,
) -> Result<Option<crate::core::model::usage::UserMedia>, SynapseError> {
    let localpart = user_id
        .strip_prefix('@')
        .and_then(|r| r.split_once(':'))
        .map(|(l, _)| l)
        .unwrap_or(user_id);
    let Ok(term) = SearchTerm::new(localpart) else {
        // Not ASCII or empty: Synapse cannot search it, and its user IDs
        // are ASCII.
        return Ok(None);
    };
    let Some(limit) = PageLimit::new(USER_PAGE) else {
        return Ok(None);
    };
    let mut from = 0;
    for _ in 0..USER_PAGES {
        let q = UsersMediaQuery::new()
            .limit(limit)
            .from(from)
            .order(OrderBy::UserId, Direction::Forward)
            .search(term.clone());
        let page = synapse.users_media(&q).await?;
        if let Some(u) = page.users.iter().find(|u| u.user_id == user_id) {
            return Ok(Some(u.clone()));
        }
        match page.next_token {
            Some(next) if next > from && !page.users.is_empty() => from = next,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

async fn rooms(ctx: &StatsContext, abandoned: bool) -> Reply {
    use crate::core::engine::rooms;
    if abandoned {
        return match ctx
            .synapse
            .room_list(crate::synapse::client::ROOM_LIST_PAGE)
            .await
        {
            Ok(list) => Reply::ok(replies::rooms_abandoned(
                &rooms::abandoned(&list),
                ctx.max_lines,
            )),
            Err(e) => Reply::failed(text::rooms::failed(&e.to_string())),
        };
    }
    // Sizes for as many rooms as are shown: the module measures them all
    // anyway; Synapse's estimate gives ten.
    let shown = ctx.max_lines.max(1);
    match crate::synapse::evaluate::rooms_view_data(&ctx.synapse, shown).await {
        Ok((sizes, list)) => {
            // The policy's one family (the reply is put in it again at the
            // choke point; this keeps a mixed policy's rooms consistent).
            let units = super::context::rules_in_force(ctx)
                .await
                .map(|c| c.units)
                .unwrap_or_default();
            Reply::ok(replies::rooms(&rooms::view(sizes, &list), units, shown))
        }
        Err(e) => Reply::failed(text::rooms::failed(&e.to_string())),
    }
}

async fn status(ctx: &StatsContext, origin: &Origin, now_ms: u64) -> Reply {
    let mut view = match &ctx.daemon {
        Some(d) => d.status().await,
        None => StatusView {
            last_run: None,
            next_run_ms: None,
            synapse_outage: None,
            synapse: Health::Unknown,
            delegated_auth: None,
            matrix: Health::Unknown,
            queued: 0,
        },
    };
    view.synapse = match ctx.synapse.server_version().await {
        Ok(version) => Health::Up(format!("Synapse {version}")),
        Err(e) => Health::Down(e.to_string()),
    };
    // Asked each time: a homeserver may move to MAS while the daemon runs.
    view.delegated_auth = ctx.synapse.delegated_auth().await.ok().flatten();
    if let Origin::Matrix { device_id, .. } = origin
        && matches!(view.matrix, Health::Unknown)
    {
        view.matrix = Health::Up(format!("connected as device {device_id}"));
    }
    Reply::ok(replies::status(&view, now_ms, ctx.daemon.is_some()))
}

/// Lets the bot answer through this context.
#[async_trait]
impl crate::bot::Responder for StatsContext {
    async fn respond_with_image(
        &self,
        command: &Command,
        device_id: &str,
        asker: crate::bot::commands::Asker,
    ) -> (Message, Option<crate::chart::Png>) {
        let origin = Origin::Matrix {
            device_id: device_id.to_owned(),
            sender: asker.user_id,
            level: asker.level,
            progress: asker.progress,
            room_id: asker.room_id,
        };
        let started = std::time::Instant::now();
        let (reply, image) = match command {
            Command::Trend { .. } => super::trend::answer(command, self, now_ms()).await,
            _ => (answer(command, self, &origin, now_ms()).await, None),
        };
        let reply = (
            super::context::in_units(self, reply.message)
                .await
                .message(),
            image,
        );
        if let Some(metrics) = &self.metrics {
            let labels = crate::daemon::metrics::CommandLabels {
                command: command.name().to_owned(),
            };
            metrics.commands.get_or_create(&labels).inc();
            metrics
                .command_latency
                .get_or_create(&labels)
                .observe(started.elapsed().as_secs_f64());
        }
        reply
    }

    async fn acknowledge(&self, event_id: &str, sender: &str) -> Option<Message> {
        let daemon = self.daemon.as_ref()?;
        let doc = match daemon.acknowledge(event_id, sender).await? {
            Ok(violations) => text::silences::acknowledged(sender, &violations, self.max_lines),
            Err(e) => text::silences::not_acknowledged(&e),
        };
        Some(doc.message())
    }
}

/// `synapse-warden stats WORDS...`: the answer for `words` parsed with the
/// bot's grammar, and whether it is not an error. A `--yes` word carries
/// out a `purge`, `quarantine` or `purge-remote` at once instead of
/// previewing it.
pub async fn answer_words(ctx: &StatsContext, words: &[String]) -> (Doc, bool) {
    let yes = words.iter().any(|w| w == "--yes");
    let words: Vec<&String> = words.iter().filter(|w| *w != "--yes").collect();
    match crate::core::commands::parse_words(&words) {
        Ok(command) if super::actions::is_action(&command) => {
            let reply = super::actions::answer(&command, ctx, &Origin::Cli, now_ms(), yes).await;
            (super::context::in_units(ctx, reply.message).await, reply.ok)
        }
        Ok(command) => {
            let reply = answer(&command, ctx, &Origin::Cli, now_ms()).await;
            (super::context::in_units(ctx, reply.message).await, reply.ok)
        }
        Err(e) => (replies::usage(&ctx.prefix, &e), false),
    }
}

/// Runs `synapse-warden stats WORDS...` with the policy file at `path`
/// (for Synapse's URL and admin token): prints the answer; exit status 0,
/// or 2 on a bad command or an error.
pub async fn run(path: &Path, words: &[String]) -> Result<ExitCode> {
    let Some(config) = valid_policy(path)? else {
        return Ok(ExitCode::from(EXIT_ERROR));
    };
    let synapse = synapse_client(&config)?;
    let mut ctx = StatsContext::new(synapse, "synapse-warden stats");
    ctx.history = config.history_file().map(crate::history::History::new);
    ctx.config = Some(Arc::new(config));
    // `--png FILE`: the chart of `trend`, written to FILE.
    let mut words = words.to_vec();
    let png_file = match words.iter().position(|w| w == "--png") {
        Some(i) => {
            if i + 1 >= words.len() {
                eprintln!("--png needs a file name: stats trend [@user:server] [30d] --png FILE");
                return Ok(ExitCode::from(EXIT_ERROR));
            }
            let file = words.remove(i + 1);
            words.remove(i);
            Some(std::path::PathBuf::from(file))
        }
        None => None,
    };
    let (doc, ok) = match (&png_file, crate::core::commands::parse_words(&words)) {
        (Some(file), Ok(command @ Command::Trend { .. })) => {
            let (reply, png) = super::trend::answer(&command, &ctx, now_ms()).await;
            match png {
                Some(png) => std::fs::write(file, &png.bytes)
                    .with_context(|| format!("cannot write the chart to {}", file.display()))?,
                None if reply.ok => {
                    eprintln!("no chart: the history has too few runs in this span")
                }
                None => {}
            }
            (reply.message, reply.ok)
        }
        (Some(_), Ok(_)) => {
            eprintln!("--png goes with `trend` only");
            return Ok(ExitCode::from(EXIT_ERROR));
        }
        _ => answer_words(&ctx, &words).await,
    };
    let text = doc.terminal(bold_terminal());
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("writing the answer");
        }
        _ => {}
    }
    Ok(ExitCode::from(if ok { EXIT_OK } else { EXIT_ERROR }))
}
