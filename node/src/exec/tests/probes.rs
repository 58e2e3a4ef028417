//! Unit tests of `probes.rs`.

use super::*;
use moor_domain::site::Driver;

/// Probes per tick at the default rate (256 per second).
const MOST: usize = 64;

fn sites(n: usize) -> BTreeMap<String, Site> {
    (0..n)
        .map(|i| {
            let name = format!("s{i}");
            let site = Site {
                name: name.clone(),
                region: "eu".into(),
                latitude: 0.0,
                longitude: 0.0,
                labels: Default::default(),
                driver: Driver::Agent {
                    endpoint: "127.0.0.1:9".into(),
                },
            };
            (name, site)
        })
        .collect()
}

fn names(due: &[Site]) -> Vec<&str> {
    due.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn uncovered_sites_are_probed_once_per_interval() {
    let all = sites(3);
    let covered: HashSet<&str> = ["s0"].into();
    let mut schedule = ProbeSchedule::default();
    // The first probe of each site is spread over its first interval.
    let first = schedule.due(&all, &covered, 0, 1_000, MOST);
    assert!(first.len() <= 2, "{:?}", names(&first));
    assert!(!schedule.holds("s0"), "a covered site is never probed");
    // Within one interval each uncovered site has been due once (or again, if it was
    // probed at 0).
    assert_eq!(
        names(&schedule.due(&all, &covered, 1_000, 1_000, MOST)),
        ["s1", "s2"]
    );
    assert!(schedule.due(&all, &covered, 1_500, 1_000, MOST).is_empty());
    assert_eq!(
        names(&schedule.due(&all, &covered, 2_000, 1_000, MOST)),
        ["s1", "s2"]
    );
    // A site an environment's check now covers is not probed when it comes due, and leaves
    // the schedule.
    let covered: HashSet<&str> = ["s0", "s1"].into();
    assert_eq!(
        names(&schedule.due(&all, &covered, 3_000, 1_000, MOST)),
        ["s2"]
    );
    assert!(!schedule.holds("s1"));
    assert_eq!(schedule.len(), 1);
    // Deleted sites are not probed, and are forgotten.
    let none: BTreeMap<String, Site> = BTreeMap::new();
    assert!(schedule.due(&none, &covered, 4_000, 1_000, MOST).is_empty());
    assert_eq!(schedule.len(), 0);
    // Interval 0: no probes.
    assert!(schedule
        .due(&all, &HashSet::new(), 9_000, 0, MOST)
        .is_empty());
    assert_eq!(schedule.len(), 0);
}

#[test]
fn probes_per_tick_are_capped_and_the_rest_wait_their_turn() {
    let all = sites(MOST * 2 + 10);
    let none = HashSet::new();
    let mut schedule = ProbeSchedule::default();
    schedule.due(&all, &none, 0, 1_000, MOST);
    let mut seen = HashSet::new();
    let mut now = 1_000;
    while seen.len() < all.len() {
        let due = schedule.due(&all, &none, now, 1_000, MOST);
        assert!(!due.is_empty() && due.len() <= MOST);
        for s in due {
            assert!(seen.insert(s.name), "probed twice in one interval");
        }
        now += 250;
        assert!(now < 2_000, "every site probed within the interval's ticks");
    }
}

/// What made probes cost 22 % of a leader core at 100,000 sites: every tick looked at every
/// site. Now a tick looks only at the front of the schedule, and all sites once per
/// reconcile; sites added or uncovered meanwhile are scheduled at the next one.
#[test]
fn ticks_between_reconciles_look_at_no_site() {
    let mut all = sites(10_000);
    let none = HashSet::new();
    let mut schedule = ProbeSchedule::default();
    let interval = 30_000;
    schedule.due(&all, &none, 0, interval, MOST);
    assert_eq!(schedule.visited, 10_000);
    let mut probed = 0;
    let mut now = 0;
    while now + 250 < RECONCILE_EVERY_MS {
        now += 250;
        probed += schedule.due(&all, &none, now, interval, MOST).len();
    }
    assert!(probed > 0, "sites came due");
    assert_eq!(schedule.visited, 10_000, "no tick looked at every site");

    // A site added now is scheduled at the next reconcile, which also drops a site a check
    // now covers; once no check covers it, the reconcile after schedules it again. Both are
    // then probed within one interval.
    let new = sites(10_001).remove("s10000").expect("one more");
    all.insert(new.name.clone(), new);
    let covered: HashSet<&str> = ["s7"].into();
    now = RECONCILE_EVERY_MS;
    schedule.due(&all, &covered, now, interval, MOST);
    assert_eq!(schedule.visited, 20_001);
    assert!(schedule.holds("s10000") && !schedule.holds("s7"));
    let mut found = HashSet::new();
    while now < 2 * RECONCILE_EVERY_MS + interval {
        now += 250;
        for s in schedule.due(&all, &none, now, interval, MOST) {
            found.insert(s.name);
        }
        if now == 2 * RECONCILE_EVERY_MS {
            assert_eq!(schedule.visited, 30_002, "one reconcile per period");
            assert!(schedule.holds("s7"));
        }
    }
    assert!(
        found.contains("s10000") && found.contains("s7"),
        "both probed"
    );
}

/// `executor.max_probes_per_second` decides how many start per tick; the rest wait.
#[test]
fn a_lower_rate_starts_fewer_per_tick() {
    let all = sites(100);
    let none = HashSet::new();
    let mut schedule = ProbeSchedule::default();
    schedule.due(&all, &none, 0, 1_000, 1);
    let due = schedule.due(&all, &none, 1_000, 1_000, 5);
    assert_eq!(due.len(), 5);
    assert_eq!(
        schedule.due(&all, &none, 1_000, 1_000, 5).len(),
        5,
        "the next five"
    );
}
