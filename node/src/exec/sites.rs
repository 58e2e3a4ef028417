//! [`Sites`]: the executor's one [`SiteDriver`], handing each call to the driver its site
//! names — the site protocol ([`AgentDriver`]: moor-agent, moor-sitesim) or a Kubernetes
//! cluster driven directly ([`KubeDriver`]).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use moor_domain::site::{Driver, Site};

use crate::exec::agent::AgentDriver;
use crate::exec::driver::{DriverCall, DriverResult, ObservedDetail, SiteDriver};
use crate::exec::kube::KubeDriver;

/// Every kind of site.
pub struct Sites {
    pub agent: AgentDriver,
    pub kube: KubeDriver,
}

impl Sites {
    pub fn new(agent: AgentDriver) -> Sites {
        Sites {
            agent,
            kube: KubeDriver::default(),
        }
    }

    fn for_site(&self, site: &Site) -> &dyn SiteDriver {
        match site.driver {
            Driver::Agent { .. } => &self.agent,
            Driver::Kubernetes { .. } => &self.kube,
        }
    }
}

impl SiteDriver for Sites {
    fn call<'a>(&'a self, call: &'a DriverCall) -> BoxFuture<'a, DriverResult> {
        self.for_site(&call.site).call(call)
    }

    fn observe<'a>(
        &'a self,
        site: &'a Site,
        environment: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, String>> {
        self.for_site(site).observe(site, environment, timeout)
    }

    fn observe_details<'a>(
        &'a self,
        site: &'a Site,
        environment: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BTreeMap<String, ObservedDetail>, String>> {
        self.for_site(site)
            .observe_details(site, environment, timeout)
    }
}
