//! Bootstrap's decisions, from scripted rounds of status answers.

use super::*;
use moor_proto::api::Member;

/// Members 1..=3, ids only (their peer addresses are the ones they report).
fn wanted() -> Wanted {
    (1..=3).map(|i| (i, None)).collect()
}

fn ep(i: u64) -> String {
    format!("m{i}:7401")
}

fn status(id: u64, leader: Option<u64>, term: u64, voters: &[u64]) -> Probe {
    Probe::Status(ClusterStatusResponse {
        id,
        state: if leader == Some(id) {
            "Leader"
        } else {
            "Follower"
        }
        .into(),
        leader_id: leader,
        term,
        peer_addr: format!("m{id}:7402"),
        members: voters
            .iter()
            .map(|v| Member {
                id: *v,
                addr: format!("m{v}:7402"),
                voter: true,
                matched_index: None,
                lag: None,
                supported_feature_level: None,
            })
            .collect(),
        ..Default::default()
    })
}

fn down() -> Probe {
    Probe::Unreachable("connection refused".into())
}

fn pristine() -> Probes {
    (1..=3).map(|i| (ep(i), status(i, None, 0, &[]))).collect()
}

#[test]
fn pristine_members_are_initialised_only_once_all_of_them_answer() {
    let mut probes = pristine();
    probes.insert(ep(2), down());
    // Member 2 might hold the cluster's data: initialising 1 and 3 could start a second
    // history, so nothing happens until it answers.
    assert_eq!(decide(&wanted(), &probes), Decision::Waiting(vec![ep(2)]));
    let all_down: Probes = (1..=3).map(|i| (ep(i), down())).collect();
    assert_eq!(
        decide(&wanted(), &all_down),
        Decision::Waiting(vec![ep(1), ep(2), ep(3)])
    );
    let Decision::Initialise { voters, targets } = decide(&wanted(), &pristine()) else {
        panic!("not initialised");
    };
    // The peer addresses the members report, not the client addresses asked.
    let expected: BTreeMap<u64, String> = (1..=3).map(|i| (i, format!("m{i}:7402"))).collect();
    assert_eq!(voters, expected);
    assert_eq!(targets, (1..=3).map(|i| (i, ep(i))).collect());
}

#[test]
fn a_peer_address_given_wins_over_the_reported_one() {
    let mut wanted = wanted();
    wanted.insert(2, Some("10.0.0.2:9000".into()));
    let Decision::Initialise { voters, .. } = decide(&wanted, &pristine()) else {
        panic!("not initialised");
    };
    assert_eq!(voters[&2], "10.0.0.2:9000");
    assert_eq!(voters[&1], "m1:7402");
}

#[test]
fn endpoints_that_do_not_match_the_list_are_refused() {
    let mut probes = pristine();
    probes.insert(ep(3), status(4, None, 0, &[]));
    let Decision::Misconfigured(why) = decide(&wanted(), &probes) else {
        panic!("accepted member 4");
    };
    assert!(
        why.contains("member 4, which is not in the --member list (1,2,3)"),
        "{why}"
    );

    let mut probes = pristine();
    probes.insert(ep(3), status(1, None, 0, &[]));
    let Decision::Misconfigured(why) = decide(&wanted(), &probes) else {
        panic!("accepted member 1 twice");
    };
    assert!(why.contains("are both member 1"), "{why}");

    probes.remove(&ep(3));
    probes.insert(ep(1), status(1, None, 0, &[]));
    let Decision::Misconfigured(why) = decide(&wanted(), &probes) else {
        panic!("initialised without member 3");
    };
    assert!(why.contains("none of --endpoints is member 3"), "{why}");

    let mut probes = pristine();
    if let Some(Probe::Status(s)) = probes.get_mut(&ep(2)) {
        s.peer_addr.clear();
    }
    let Decision::Misconfigured(why) = decide(&wanted(), &probes) else {
        panic!("initialised without a peer address");
    };
    assert!(why.contains("--member 2=PEER_HOST:PORT"), "{why}");
}

#[test]
fn an_existing_cluster_is_never_initialised_again() {
    // Member 2 was wiped (pristine) but 1 belongs to the cluster: nothing is initialised.
    let probes = Probes::from([
        (ep(1), status(1, Some(1), 3, &[1, 2, 3])),
        (ep(2), status(2, None, 0, &[])),
        (ep(3), down()),
    ]);
    assert_eq!(
        decide(&wanted(), &probes),
        Decision::Formed {
            via: 1,
            differs: None
        }
    );
    // The cluster grew since: reported, still not initialised.
    let probes = Probes::from([(ep(1), status(1, Some(1), 3, &[1, 2, 3, 4]))]);
    assert!(matches!(
        decide(&wanted(), &probes),
        Decision::Formed { via: 1, differs: Some(v) } if v.len() == 4
    ));
    // A peer address given that the cluster does not have.
    let mut other = wanted();
    other.insert(1, Some("elsewhere:7402".into()));
    let probes = Probes::from([(ep(1), status(1, Some(1), 3, &[1, 2, 3]))]);
    assert!(matches!(
        decide(&other, &probes),
        Decision::Formed {
            differs: Some(_),
            ..
        }
    ));
}

#[test]
fn formed_needs_one_leader_everyone_follows_with_every_member_voting() {
    let all = |l, t| -> Probes {
        (1..=3)
            .map(|i| (ep(i), status(i, l, t, &[1, 2, 3])))
            .collect()
    };
    assert_eq!(formed(&wanted(), &all(Some(2), 1)), Ok(2));
    assert!(formed(&wanted(), &all(None, 1)).is_err());
    let mut split = all(Some(2), 1);
    split.insert(ep(3), status(3, Some(3), 2, &[1, 2, 3]));
    assert!(formed(&wanted(), &split).unwrap_err().contains("disagree"));
    let mut lagging = all(Some(2), 1);
    lagging.insert(ep(1), down());
    assert!(formed(&wanted(), &lagging)
        .unwrap_err()
        .contains("does not answer"));
    let partial: Probes = (1..=3)
        .map(|i| (ep(i), status(i, Some(1), 1, &[1, 2])))
        .collect();
    assert!(formed(&wanted(), &partial)
        .unwrap_err()
        .contains("member 3 is not a voter"));
}
