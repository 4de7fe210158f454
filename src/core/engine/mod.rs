//! What a run decides from the facts and the policy: the rules evaluated
//! ([`eval`]) with each subject's effective limits ([`limits`]), rules broken
//! by too many users ([`too_broad`]), the walk's page plan ([`walk_plan`]),
//! retry backoff ([`backoff`]), when the next run is due ([`schedule`]) and
//! the last walk kept for commands ([`snapshot`]).

pub mod backoff;
pub mod eval;
pub mod limits;
pub mod schedule;
pub mod snapshot;
pub mod too_broad;
pub mod walk_plan;
