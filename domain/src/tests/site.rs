//! Unit tests of `site.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;

fn site() -> Site {
    Site {
        name: "eu-paris-1".into(),
        region: "europe".into(),
        latitude: 48.85,
        longitude: 2.35,
        labels: [("tier".into(), "edge".into())].into_iter().collect(),
        driver: Driver::Agent {
            endpoint: "127.0.0.1:9000".into(),
        },
    }
}

#[test]
fn valid_site_passes() {
    site().validate().unwrap();
}

#[test]
fn every_problem_is_reported() {
    let mut s = site();
    s.name = "Paris_1".into();
    s.latitude = 91.0;
    s.longitude = f64::NAN;
    s.driver = Driver::Agent {
        endpoint: "nowhere".into(),
    };
    let errors = s.validate().unwrap_err();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors[0].contains("Paris_1"));
    assert!(errors[1].contains("latitude 91"));
    assert!(errors[3].contains("nowhere"));
}

#[test]
fn a_kubernetes_site_keeps_only_an_absolute_kubeconfig_path() {
    let mut s = site();
    s.driver = Driver::Kubernetes {
        kubeconfig: "/etc/moor/paris.kubeconfig".into(),
        context: Some("prod".into()),
    };
    assert_eq!(s.validate(), Ok(()));
    assert_eq!(
        serde_json::to_value(&s.driver).ok(),
        Some(
            serde_json::json!({"kubernetes": {"kubeconfig": "/etc/moor/paris.kubeconfig", "context": "prod"}})
        )
    );
    s.driver = Driver::Kubernetes {
        kubeconfig: "paris.kubeconfig".into(),
        context: Some(String::new()),
    };
    let errors = s.validate().unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("absolute path"), "{errors:?}");
}

#[test]
fn names_are_dns_labels() {
    assert!(validate_name("site", "a").is_ok());
    assert!(validate_name("site", "a-1").is_ok());
    assert!(validate_name("site", "-a").is_err());
    assert!(validate_name("site", "a-").is_err());
    assert!(validate_name("site", "").is_err());
    assert!(validate_name("site", &"a".repeat(64)).is_err());
}
