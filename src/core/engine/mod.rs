//! What a run decides from the facts and the policy: the rules evaluated
//! ([`eval`]) with each subject's effective limits ([`limits`]), rules broken
//! by too many users ([`too_broad`]), the walk's page plan ([`walk_plan`]),
//! retry backoff ([`backoff`]), when the next run is due ([`schedule`]),
//! the last walk kept for commands ([`snapshot`]) and the rooms `rooms`
//! shows ([`rooms`]).

pub mod backoff;
pub mod eval;
pub mod limits;
pub mod rooms;
pub mod schedule;
pub mod snapshot;
pub mod too_broad;
pub mod walk_plan;
