//! Silences and acknowledgements, as the bot asks for them: each is saved
//! with the alert state before it is answered, and the silences are
//! published for `!stats silences` and `check`.

use super::service::{Daemon, DaemonError};
use crate::clock::now_ms;
use crate::core::alerting::silences::Silence;
use crate::core::commands::SilenceRequest;
use crate::core::model::violation::Violation;
use crate::core::policy;

impl Daemon {
    /// Creates a silence (at most `matrix.silence_max` long) and saves it
    /// with the alert state before answering.
    pub(super) async fn silence(
        &mut self,
        request: SilenceRequest,
        author: &str,
    ) -> Result<Result<(Silence, usize), String>, DaemonError> {
        let config = self.config().await;
        let max = config
            .matrix
            .as_ref()
            .map_or(policy::DEFAULT_SILENCE_MAX, |m| m.commands.silence_max);
        let now = now_ms();
        let added = self
            .state
            .alerts
            .silences
            .add(
                request.matcher,
                author,
                &request.reason,
                request.duration,
                max,
                now,
            )
            .cloned();
        let answer = match added {
            Ok(silence) => {
                self.save().await;
                let matches = self.open_matching(&silence);
                tracing::info!(id = silence.id, author, rule = %silence.matcher.rule, subject = %silence.matcher.subject, ends_ms = silence.ends_ms, reason = %silence.reason, matches, "silence created");
                Ok((silence, matches))
            }
            Err(e) => Err(e.to_string()),
        };
        self.publish_silences().await;
        Ok(answer)
    }

    /// Ends a silence early and saves.
    pub(super) async fn unsilence(
        &mut self,
        id: u64,
        by: &str,
    ) -> Result<Result<(Silence, usize), String>, DaemonError> {
        let answer = match self.state.alerts.silences.end(id, by, now_ms()) {
            Ok(silence) => {
                self.save().await;
                let matches = self.open_matching(&silence);
                tracing::info!(id, by, matches, "silence ended early");
                Ok((silence, matches))
            }
            Err(e) => Err(e.to_string()),
        };
        self.publish_silences().await;
        Ok(answer)
    }

    /// The open violations `silence` matches.
    fn open_matching(&self, silence: &Silence) -> usize {
        self.state
            .alerts
            .active
            .values()
            .filter(|r| silence.matcher.matches(&r.violation))
            .count()
    }

    /// Acknowledges the violations of an alert and saves (a failed save
    /// keeps it in memory, saved when saving works again).
    pub(super) async fn acknowledge(
        &mut self,
        event_id: &str,
        by: &str,
    ) -> Option<Result<Vec<Violation>, String>> {
        let acknowledged = self.state.alerts.acknowledge(event_id, by, now_ms())?;
        self.save().await;
        tracing::info!(
            event_id,
            by,
            violations = acknowledged.len(),
            "alert acknowledged"
        );
        Some(Ok(acknowledged))
    }

    pub(super) async fn publish_silences(&self) {
        *self.shared.silences.write().await = self.state.alerts.silences.clone();
    }
}
