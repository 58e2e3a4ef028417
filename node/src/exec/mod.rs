//! Execution on the leader: the [`executor`] turns committed dispatches into site calls and
//! their answers into result checkpoints; [`driver`] is the seam to the sites
//! (`SiteDriver`), [`agent`] its site-protocol implementation; [`drift`] observes idle
//! environments at their sites and lets their drift policy heal them.

pub mod agent;
pub mod drift;
pub mod driver;
pub mod executor;
