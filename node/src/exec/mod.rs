//! Execution on the leader: the [`executor`] turns committed dispatches into site calls and
//! their answers into result checkpoints; [`driver`] is the seam to the sites
//! (`SiteDriver`), [`agent`] its site-protocol implementation, [`kube`] its Kubernetes one
//! (over `moor-kube`), [`sites`] the driver that picks one by the site's driver; [`drift`]
//! observes idle environments at their sites and lets their drift policy heal them, and
//! probes the sites no check covers on the schedule kept by [`probes`];
//! [`sources`] fetches Git sources into blueprint revisions and advances triggers.

pub mod agent;
pub mod drift;
pub mod driver;
pub mod executor;
pub mod kube;
pub mod probes;
pub mod sites;
pub mod sources;
