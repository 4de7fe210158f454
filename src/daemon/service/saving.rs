//! Saving the daemon's state: off the async runtime, and never fatal. A
//! save that fails (a full disk) keeps the state in memory, makes `/ready`
//! say why, tells the admins once ([`crate::core::alerting::saving`]), and
//! is retried; the first save that works says so.

use std::sync::Arc;

use super::Daemon;
use crate::clock::now_ms;
use crate::core::text;
use crate::daemon::store::{StateStore, StoreError};

impl Daemon {
    /// Saves the state from now on in `store` instead of the state file
    /// (tests: a store that fails or is slow).
    pub fn set_store(&mut self, store: Arc<dyn StateStore>) {
        self.store = store;
    }

    /// The state as saved.
    pub(super) fn encode(&self) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(&self.state).map_err(|source| StoreError::Encode {
            path: self.state_path.clone(),
            source,
        })
    }

    /// One save, its writing (which syncs to disk) off the async runtime:
    /// the endpoints and the bot go on meanwhile.
    pub(in crate::daemon) async fn try_save(&self) -> Result<(), StoreError> {
        let bytes = self.encode()?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.write(&bytes))
            .await
            .unwrap_or_else(|e| {
                Err(StoreError::Io {
                    path: self.state_path.clone(),
                    source: std::io::Error::other(e.to_string()),
                })
            })
    }

    /// Saves the state; answers whether it was saved. A failure (a full
    /// disk) stops nothing: the state stays in memory, `/ready` says why,
    /// the admins are told once ([`Saving`]), and the save is retried at
    /// the next change and on its own with backoff; the first save that
    /// works says so.
    pub(in crate::daemon) async fn save(&mut self) -> bool {
        loop {
            let result = self.try_save().await;
            match self.saved(result, now_ms()) {
                None => return false,
                Some(false) => return true,
                // The notice that saves work again was queued: saved with it.
                Some(true) => {}
            }
        }
    }

    /// Records the result of a save: `None` when it failed, else whether
    /// it queued the notice that saves work again (to be saved too).
    pub(super) fn saved(&mut self, result: Result<(), StoreError>, now: u64) -> Option<bool> {
        match result {
            Ok(()) => {
                self.readiness.set_save_failed(None);
                let change = self.saving.saved();
                if let Some(change) = &change {
                    tracing::info!("the state is saved again");
                    self.say(&text::daemon::saving(change), now);
                }
                Some(change.is_some())
            }
            Err(error) => {
                let said = error.to_string();
                self.readiness.set_save_failed(Some(said.clone()));
                match self.saving.failed(&said, now) {
                    Some(change) => {
                        tracing::error!(error = %said, "cannot save the state: it is kept in memory and the save is retried");
                        self.say(&text::daemon::saving(&change), now);
                    }
                    None => tracing::warn!(error = %said, "cannot save the state yet"),
                }
                None
            }
        }
    }
}
