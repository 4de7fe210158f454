//! One-off notices of the daemon (Synapse unreachable, a refused reload,
//! a state file set aside...).

use crate::core::doc::{Block, Doc, ERROR_CAP, Line};

/// Notices are at most this long (they quote errors).
const NOTICE_CAP: usize = 2 * ERROR_CAP;

/// `synapse-warden: <text>`, then the details, one line each, as code.
pub fn notice(text: &str, details: &[&str]) -> Doc {
    let mut doc = Doc::paragraph(
        Line::new()
            .strong(Line::new().text("synapse-warden"))
            .text(": ")
            .outside(text, NOTICE_CAP),
    );
    if !details.is_empty() {
        doc.push(Block::Code(
            details
                .iter()
                .map(|l| Line::new().outside(*l, ERROR_CAP))
                .collect(),
        ));
    }
    doc
}
