//! The trace an execution's steps are exported in (ARCHITECTURE.md, "Traces"): every member
//! derives the same ids from the execution id, so a collector holds one trace per execution
//! whichever members ran its steps, and a client can find it from the id alone.

use sha2::{Digest, Sha256};

/// The trace id (16 bytes) and parent span id (8 bytes) of execution `execution_id`'s
/// steps: the first 24 bytes of SHA-256(`moor/execution/<id>`).
pub fn execution_trace(execution_id: &str) -> ([u8; 16], [u8; 8]) {
    let digest = Sha256::new()
        .chain_update(b"moor/execution/")
        .chain_update(execution_id.as_bytes())
        .finalize();
    let mut trace = [0u8; 16];
    let mut parent = [0u8; 8];
    trace.copy_from_slice(&digest[..16]);
    parent.copy_from_slice(&digest[16..24]);
    (trace, parent)
}

/// The trace id as collectors print it: 32 lowercase hex digits.
pub fn execution_trace_id(execution_id: &str) -> String {
    execution_trace(execution_id)
        .0
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_id_per_execution() {
        let a = execution_trace_id("e-1");
        assert_eq!(a.len(), 32);
        assert_eq!(a, execution_trace_id("e-1"));
        assert_ne!(a, execution_trace_id("e-2"));
        // Pinned: collectors, runbooks and older members rely on the rule never changing.
        assert_eq!(execution_trace_id("x"), "e3a268d2931271c0b4ef6212d505f199");
    }
}
