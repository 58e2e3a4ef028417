//! Execution on the leader: the [`executor`] turns committed dispatches into site calls and
//! their answers into result checkpoints; [`driver`] is the seam to the sites
//! (`SiteDriver`), [`agent`] its site-protocol implementation.

pub mod agent;
pub mod driver;
pub mod executor;
