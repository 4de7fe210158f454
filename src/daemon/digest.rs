//! The digest: when it is due, what it says (the history since the last
//! one, read from the usage history) and the server-wide chart drawn from
//! that history for the messages that carry one.

use std::time::Duration;

use super::service::{Daemon, DaemonError};
use crate::core::alerting::digest::{self, DigestHistory, DigestState, Due};
use crate::core::alerting::lifecycle::ChartSpan;
use crate::core::policy::Config;

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Daemon {
    /// How long until the digest is due, if one is configured.
    pub(super) fn digest_wait(&self, config: &Config, now: u64) -> Option<Duration> {
        let settings = config.digest.as_ref()?;
        match digest::due(&settings.cron, self.state.digest.settled_ms, now) {
            Due::Start | Due::Now(_) => Some(Duration::ZERO),
            Due::Wait(at) => Some(Duration::from_millis(at.saturating_sub(now))),
            Due::Never => None,
        }
    }

    /// Queues and delivers the digest when one is due at `now`; answers
    /// its due time. The digest and the state that says it was queued are
    /// saved together: a crash after posting resends it with the same
    /// transaction ID (posted once), a crash before saving posts it at the
    /// restart. With no `digest` in the policy the digest's state is
    /// dropped (counting starts afresh when it comes back).
    pub async fn digest_if_due(&mut self, now: u64) -> Result<Option<u64>, DaemonError> {
        let config = self.config().await;
        let Some(settings) = &config.digest else {
            if self.state.digest != DigestState::default() {
                self.state.digest = DigestState::default();
                self.save().await;
            }
            return Ok(None);
        };
        let due_ms = match digest::due(&settings.cron, self.state.digest.settled_ms, now) {
            Due::Start => {
                self.state.digest.settled_ms = Some(now);
                self.save().await;
                tracing::info!(cron = %settings.cron.written, "digest configured: the first one is due at the next time of its cron expression");
                return Ok(None);
            }
            Due::Wait(_) | Due::Never => return Ok(None),
            Due::Now(due_ms) => due_ms,
        };
        let since = self.state.digest.settled_ms.unwrap_or(now).min(now);
        let history = self.digest_history(&config, since, now).await;
        let mut d = digest::digest(
            due_ms,
            &self.state.digest,
            history,
            self.state.alerts.active.len(),
            config.history.capacity.map(|(bytes, _)| bytes),
            crate::core::history::view::admin_units(&config),
            now,
        );
        // Rooms no local user is in any more, from the official room list
        // (every database); a digest without them when it cannot be read.
        d.rooms = match self
            .client
            .room_list(crate::synapse::client::ROOM_LIST_PAGE)
            .await
        {
            Ok(list) => Some((list.len(), list.iter().filter(|r| r.is_abandoned()).count())),
            Err(error) => {
                tracing::warn!(%error, "the digest goes without the rooms: the room list could not be read");
                None
            }
        };
        let m = crate::core::text::digest::digest(&d).message();
        // The chart shows at least the last 30 days (the forecast's basis):
        // a week alone is a short line.
        let span = ChartSpan {
            since_ms: d
                .since_ms
                .min(now.saturating_sub(ms(crate::core::history::FORECAST_BASIS))),
            at_ms: now,
        };
        self.state
            .alerts
            .enqueue_with_chart(m.plain, m.html, span, now);
        self.state.digest.queued(due_ms);
        self.save().await;
        tracing::info!(due = due_ms, "digest queued");
        self.deliver().await?;
        Ok(Some(due_ms))
    }

    /// What the history says for a digest of `since..now`; nothing (and a
    /// warning) when it cannot be read.
    async fn digest_history(&self, config: &Config, since: u64, now: u64) -> DigestHistory {
        let Some(history) = self.history.as_ref().filter(|_| config.history.enabled) else {
            return DigestHistory::default();
        };
        let from = now.saturating_sub((now - since).max(ms(crate::core::history::FORECAST_BASIS)));
        let read = history
            .with(move |s| {
                let points = s.server_points(from)?;
                let (start, end) = s.growth_runs(since, now)?;
                Ok(DigestHistory { points, start, end })
            })
            .await;
        read.unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read the history for the digest; it says what it can");
            DigestHistory::default()
        })
    }

    /// The server-wide chart of `span`, drawn from the history; `None`
    /// (and a warning) when there is no history or too little of it.
    pub(super) async fn chart_of(&self, span: ChartSpan) -> Option<crate::chart::Png> {
        let config = self.config().await;
        let history = self.history.as_ref().filter(|_| config.history.enabled)?;
        let window = span.at_ms.saturating_sub(span.since_ms).max(60_000);
        let from = span
            .at_ms
            .saturating_sub(window.max(ms(crate::core::history::FORECAST_BASIS)));
        let points = match history.with(move |s| s.server_points(from)).await {
            Ok(points) => points,
            Err(error) => {
                tracing::warn!(%error, "cannot read the history for the chart; the message goes without it");
                return None;
            }
        };
        let points = points
            .into_iter()
            .filter(|p| p.at_ms <= span.at_ms)
            .collect();
        let view = crate::core::history::view::trend_view(
            None,
            Duration::from_millis(window),
            points,
            config.history.capacity.map(|(bytes, _)| bytes),
            crate::core::history::view::admin_units(&config),
            span.at_ms,
        );
        view.trend?;
        match tokio::task::spawn_blocking(move || crate::chart::trend_chart(&view)).await {
            Ok(Ok(png)) => Some(png),
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot draw the chart; the message goes without it");
                None
            }
            Err(error) => {
                tracing::warn!(%error, "the chart task failed; the message goes without it");
                None
            }
        }
    }
}
