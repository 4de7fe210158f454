//! Delivery: what is queued in the persisted outboxes goes out, oldest
//! first, saved after each message — announcements to the admin room (with
//! their charts) and server notices to users — and the daemon's ways to
//! queue an announcement.

use super::service::{Daemon, DaemonError};
use crate::clock::now_ms;
use crate::core::alerting::conditions::ConditionChange;
use crate::core::alerting::delivery::{Loudness, OUTBOX_CAP, collapse, undelivered};
use crate::core::doc::{Doc, Message};
use crate::core::model::violation::ViolationKey;
use crate::core::text;

impl Daemon {
    /// Sends the queued server notices, oldest first, saving after each;
    /// then posts the run's summary held for them (saying who was
    /// notified), tells the admins of notices that were waiting, or once
    /// that Synapse has no server notices.
    pub(super) async fn deliver_notices(&mut self) -> Result<(), DaemonError> {
        let mut late = Vec::new();
        while let Some(next) = self.state.notices.outbox.first().cloned() {
            let result = self
                .client
                .send_server_notice(&next.txn_id, &next.user_id, &next.plain, &next.html)
                .await;
            match result {
                Ok(event_id) => {
                    tracing::info!(user = %next.user_id, rule = %next.rule, %event_id, "server notice sent");
                    if !self.state.notices.sent(&next.txn_id) {
                        late.push(next.user_id);
                    }
                    self.state.notices.disabled_said = false;
                }
                Err(error) if crate::synapse::client::is_notices_disabled(&error) => {
                    let dropped = self.state.notices.disabled();
                    tracing::warn!(%error, dropped, "Synapse has no server notices configured");
                    if !self.state.notices.disabled_said {
                        self.state.notices.disabled_said = true;
                        self.say(
                            &crate::core::text::server_notices::disabled(dropped),
                            now_ms(),
                        );
                    }
                }
                Err(error) if error.is_transient() => {
                    tracing::warn!(%error, queued = self.state.notices.outbox.len(), "cannot send server notices yet; will retry");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, user = %next.user_id, "Synapse refused a server notice; dropped");
                    self.state.notices.refused(&next.txn_id, &error.to_string());
                }
            }
            self.save().await;
        }
        let keys = self.state.notices.held_keys();
        if let Some(released) = self.state.notices.release()
            && let Some(summary) = text::summary::run(&released.summary, Some(&released.tally))
        {
            let resolved = released.summary.plan.resolved_keys();
            self.say_keyed(&summary, keys, resolved, now_ms());
            self.save().await;
        }
        if !late.is_empty() {
            self.say(
                &crate::core::text::server_notices::sent_late(&late),
                now_ms(),
            );
            self.save().await;
        }
        Ok(())
    }

    pub(super) fn announce(&mut self, notice: &ConditionChange, now: u64) {
        let m = text::daemon::condition(notice).message();
        self.state.alerts.enqueue(m.plain, m.html, now);
    }

    pub(super) fn say(&mut self, doc: &Doc, now: u64) {
        let m = doc.message();
        self.state.alerts.enqueue(m.plain, m.html, now);
    }

    /// Queues a run's summary with the violations it announces, open
    /// (`keys`) and resolved.
    pub(super) fn say_keyed(
        &mut self,
        doc: &Doc,
        keys: Vec<ViolationKey>,
        resolved: Vec<ViolationKey>,
        now: u64,
    ) {
        let m = doc.message();
        self.state.alerts.enqueue_alert(m.plain, m.html, keys, now);
        if let Some(last) = self.state.alerts.outbox.last_mut() {
            last.resolved = resolved;
        }
    }

    /// Keeps the outbox short while the admin room does not take messages:
    /// waiting run summaries become one message and the outbox holds at
    /// most [`OUTBOX_CAP`] (the core's [`collapse`]); saved at once.
    async fn collapse_outbox(&mut self) {
        let Some(c) = collapse(
            &self.state.alerts.outbox,
            &self.state.alerts.active,
            OUTBOX_CAP,
        ) else {
            return;
        };
        let max_lines = self.config().await.alerts.max_lines.get();
        let m = text::daemon::collapsed(&c, max_lines).message();
        tracing::info!(
            summaries = c.tally.summaries,
            dropped = c.tally.dropped,
            open = c.open.len(),
            "messages waiting for the admin room collapsed into one"
        );
        self.state
            .alerts
            .collapse_outbox(c, m.plain, m.html, now_ms());
        self.save().await;
    }

    /// Sends what the outbox holds, oldest first, saving after each.
    pub(super) async fn deliver(&mut self) -> Result<(), DaemonError> {
        self.collapse_outbox().await;
        while let Some(next) = self.state.alerts.outbox.first().cloned() {
            let message = Message {
                plain: next.plain.clone(),
                html: next.html.clone(),
            };
            let mut sent = self.notifier.send(&next.txn_id, &message).await;
            if let (Ok(_), Some(span)) = (&sent, next.chart)
                && let Some(png) = self.chart_of(span).await
            {
                let txn_id = format!("{}-chart", next.txn_id);
                if let Err(error) = self.notifier.send_image(&txn_id, &png).await {
                    sent = Err(error);
                }
            }
            match sent {
                Ok(event_id) => {
                    self.undelivered = 0;
                    self.delivered_since_start = true;
                    self.state.alerts.delivered(&next.txn_id, Some(&event_id));
                    self.save().await;
                }
                Err(error) => {
                    self.undelivered = self.undelivered.saturating_add(1);
                    let queued = self.state.alerts.outbox.len();
                    match undelivered(
                        self.started_ms,
                        now_ms(),
                        self.undelivered,
                        self.delivered_since_start,
                    ) {
                        Loudness::Info => {
                            tracing::info!(%error, queued, "cannot post to the admin room yet (the bot is still connecting); will retry")
                        }
                        Loudness::Warn => {
                            tracing::warn!(%error, queued, "cannot post to the admin room yet; will retry")
                        }
                    }
                    break;
                }
            }
        }
        self.shared.status.write().await.queued = self.state.alerts.outbox.len();
        Ok(())
    }
}
