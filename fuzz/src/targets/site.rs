//! `site`: site definitions as `moorctl site put` and the API send them:
//! [`Site::validate`], [`validate_name`] and [`validate_endpoint`], then the site applied
//! (`PutSite`) to the golden log's final state, where environments already run on sites of
//! the same names.
//!
//! Sites are chosen from the input bytes ([`crate::pick`]) among values at the edges of
//! valid: names of 63 and 64 characters, upper case, dashes at the ends; latitudes past 90,
//! NaN and infinities; endpoints without a port, with port 0 or 65536, IPv6 forms;
//! kubeconfig paths that are relative or 5,000 bytes long. Checked: validation never panics
//! and returns at least one reason when it refuses; an accepted site obeys every documented
//! rule and survives the log codec; apply never panics and keeps the state's invariants.

use arbitrary::{Result, Unstructured};
use moor_domain::codec;
use moor_domain::command::Command;
use moor_domain::site::{validate_endpoint, validate_name, Driver, Site};
use moor_domain::workflow::WorkflowCommand;
use rand::rngs::SmallRng;
use rand::Rng;

use crate::engine::{Pool, Target};
use crate::golden::final_state;
use crate::pick;

pub const TARGET: Target = Target {
    name: "site",
    about: "site definitions: validate, names, endpoints, then PutSite applied",
    seeds,
    generate,
    run,
};

fn seeds() -> Vec<Vec<u8>> {
    (0u8..16).map(|i| vec![i.wrapping_mul(37); 64]).collect()
}

fn generate(rng: &mut SmallRng, _pool: &Pool) -> Vec<u8> {
    let len = rng.random_range(8..=160);
    (0..len).map(|_| rng.random()).collect()
}

const NAMES: &[&str] = &[
    "s0",
    "s1",
    "s2",
    "s3",
    "edge-1",
    "a",
    "-a",
    "a-",
    "A",
    "",
    "a_b",
    "a.b",
    "é",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];
const ENDPOINTS: &[&str] = &[
    "127.0.0.1:9",
    "host:0",
    "host:65535",
    "host:65536",
    ":80",
    "[::1]:80",
    "::1",
    "a b:1",
    "a/b:1",
    "h:",
    "h:+1",
    "h:0080",
    "h:-1",
    "h",
    "",
    ":",
    "h:1:2",
    "h:١",
];
const LATITUDES: &[f64] = &[
    10.0,
    90.0,
    -90.0,
    90.000_001,
    -0.0,
    f64::NAN,
    f64::INFINITY,
    f64::MIN_POSITIVE,
];
const LONGITUDES: &[f64] = &[
    20.0,
    180.0,
    -180.0,
    180.000_001,
    f64::NAN,
    f64::NEG_INFINITY,
    f64::MAX,
];

pub fn site(u: &mut Unstructured) -> Result<Site> {
    let name = pick::string(u, NAMES)?;
    let region = pick::string(u, &["eu", "us", "", " ", "eu-west"])?;
    let latitude = pick::number(u, LATITUDES)?;
    let longitude = pick::number(u, LONGITUDES)?;
    let mut labels = moor_domain::site::Labels::new();
    for _ in 0..u.int_in_range(0..=3)? {
        labels.insert(
            pick::string(u, &["tier", "region", "site", "", "k", NAMES[14]])?,
            pick::string(u, &["edge", "core", "", NAMES[14]])?,
        );
    }
    let driver = if u.ratio(1, 4)? {
        let long = format!("/{}", "k".repeat(5000));
        Driver::Kubernetes {
            kubeconfig: pick::string(
                u,
                &["/etc/moor/k.kubeconfig", "k.kubeconfig", "", "/", &long],
            )?,
            context: if u.arbitrary()? {
                Some(pick::string(u, &["prod", "", &"c".repeat(254)])?)
            } else {
                None
            },
        }
    } else {
        Driver::Agent {
            endpoint: pick::string(u, ENDPOINTS)?,
        }
    };
    Ok(Site {
        name,
        region,
        latitude,
        longitude,
        labels,
        driver,
    })
}

fn run(input: &[u8]) -> bool {
    let mut u = Unstructured::new(input);
    let Ok(site) = site(&mut u) else {
        return false;
    };
    let name_ok = validate_name("site", &site.name).is_ok();
    let endpoint_ok = match &site.driver {
        Driver::Agent { endpoint } => validate_endpoint(endpoint).is_ok(),
        Driver::Kubernetes { .. } => true,
    };
    let accepted = match site.validate() {
        Err(reasons) => {
            assert!(!reasons.is_empty(), "a site refused without a reason");
            false
        }
        Ok(()) => {
            assert!(
                name_ok && endpoint_ok,
                "an accepted site with a bad name or endpoint: {site:?}"
            );
            assert!(
                (-90.0..=90.0).contains(&site.latitude),
                "latitude {}",
                site.latitude
            );
            assert!(
                (-180.0..=180.0).contains(&site.longitude),
                "longitude {}",
                site.longitude
            );
            let bytes =
                codec::encode("site", &site).unwrap_or_else(|e| panic!("a site encodes: {e}"));
            let back: Site =
                codec::decode("site", &bytes).unwrap_or_else(|e| panic!("a site decodes: {e}"));
            assert!(back == site, "a site changed through the log codec");
            true
        }
    };
    let (state, index, term) = final_state();
    let mut state = state.clone();
    let command = Command::Workflow(WorkflowCommand::PutSite {
        site,
        now_ms: 10_000_000,
    });
    state.apply(index + 1, *term, &command);
    if let Err(broken) = state.invariants() {
        panic!("invariant broken by {command:?}: {broken}");
    }
    accepted
}
