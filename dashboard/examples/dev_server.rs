//! A throwaway web server for the map page over synthetic sites, with the standard library
//! only: to try the page and its script in a browser without a cluster. It is not how Moor
//! serves the map (that is `node/`, with axum); it only shows which function answers which
//! route.
//!
//!     CARGO_TARGET_DIR=/var/tmp/moor-dash-target cargo run --release -p moor-dashboard --example dev_server [ADDR] [SITES]
//!
//! then open http://127.0.0.1:8089/ui/. Every two seconds a few sites change status and a
//! `changed` event goes out on `/ui/events`, so the live updates can be watched.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::Duration;

use moor_dashboard::query::decode_path_segment;
use moor_dashboard::synthetic::synthetic_sites;
use moor_dashboard::{
    cells, page, routes, site_page, world_svg, EnvRow, ExecRow, MapQuery, ResourceRow, SiteDot,
    SitePage, Status,
};

struct Shared {
    sites: RwLock<Vec<SiteDot>>,
    version: AtomicU64,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8089".to_string());
    let n: usize = args
        .next()
        .map(|a| a.parse().expect("SITES is a number"))
        .unwrap_or(100_000);
    let shared = Arc::new(Shared {
        sites: RwLock::new(synthetic_sites(n, 42)),
        version: AtomicU64::new(0),
    });
    let listener = TcpListener::bind(&addr).expect("bind ADDR");
    println!(
        "map page on http://{}{} ({n} synthetic sites)",
        listener.local_addr().expect("bound"),
        routes::MAP_PAGE
    );

    let churn = Arc::clone(&shared);
    thread::spawn(move || {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        loop {
            thread::sleep(Duration::from_secs(2));
            let mut sites = churn.sites.write().expect("not poisoned");
            let len = sites.len();
            for _ in 0..len.min(50) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let site = &mut sites[(x % len as u64) as usize];
                site.status = Status::ALL[(x >> 32) as usize % Status::ALL.len()];
            }
            churn.version.fetch_add(1, Ordering::SeqCst);
        }
    });

    for stream in listener.incoming().flatten() {
        let shared = Arc::clone(&shared);
        thread::spawn(move || {
            let _ = handle(stream, &shared);
        });
    }
}

fn handle(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    match path {
        "/" | "/ui" => respond(
            &mut stream,
            "302 Found",
            "text/plain",
            b"",
            &["Location: /ui/"],
        ),
        p if p == routes::MAP_PAGE => {
            let html = page("Moor sites (dev server)", None);
            respond(
                &mut stream,
                "200 OK",
                "text/html; charset=utf-8",
                html.as_bytes(),
                &[],
            )
        }
        p if p == routes::WORLD_SVG => respond(
            &mut stream,
            "200 OK",
            "image/svg+xml",
            world_svg().as_bytes(),
            &["Cache-Control: max-age=86400"],
        ),
        p if p == routes::MAP_API => match MapQuery::parse(query) {
            Ok(q) => {
                let data = {
                    let sites = shared.sites.read().expect("not poisoned");
                    cells(&sites, &q.view, &q.filter)
                };
                let json = serde_json::to_vec(&data).expect("MapData serialises");
                respond(&mut stream, "200 OK", "application/json", &json, &[])
            }
            Err(e) => respond(
                &mut stream,
                "400 Bad Request",
                "text/plain; charset=utf-8",
                e.to_string().as_bytes(),
                &[],
            ),
        },
        p if p == routes::EVENTS => events(stream, shared),
        p if p.starts_with(routes::SITES) => {
            let name = decode_path_segment(&p[routes::SITES.len()..]).unwrap_or_default();
            let site = {
                let sites = shared.sites.read().expect("not poisoned");
                sites.iter().find(|s| s.name == name).cloned()
            };
            match site {
                Some(site) => {
                    let html = site_page(&made_up_page(&site));
                    respond(
                        &mut stream,
                        "200 OK",
                        "text/html; charset=utf-8",
                        html.as_bytes(),
                        &[],
                    )
                }
                None => respond(
                    &mut stream,
                    "404 Not Found",
                    "text/plain",
                    b"no such site",
                    &[],
                ),
            }
        }
        _ => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            b"not found",
            &[],
        ),
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    extra: &[&str],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in extra {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}

/// Server-sent events: `changed` whenever the churn thread changed sites, a comment every
/// 15 s so proxies keep the connection open.
fn events(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\nretry: 2000\n\n",
    )?;
    let mut seen = shared.version.load(Ordering::SeqCst);
    let mut quiet = 0;
    loop {
        thread::sleep(Duration::from_millis(250));
        let now = shared.version.load(Ordering::SeqCst);
        if now != seen {
            seen = now;
            quiet = 0;
            stream.write_all(format!("event: {}\ndata:\n\n", routes::CHANGED_EVENT).as_bytes())?;
        } else {
            quiet += 1;
            if quiet == 60 {
                quiet = 0;
                stream.write_all(b": ping\n\n")?;
            }
        }
    }
}

fn made_up_page(site: &SiteDot) -> SitePage {
    let drifted = site.status == Status::Drifted;
    SitePage {
        name: site.name.clone(),
        region: site.region.clone(),
        lat: site.lat,
        lon: site.lon,
        labels: site.labels.clone(),
        environments: if site.status == Status::Empty {
            vec![]
        } else {
            vec![EnvRow {
                name: format!("{}-app", site.name),
                blueprint: "edge-app".into(),
                revision: 3,
                status: site.status,
                phase: String::new(),
                resources: ["deployment/web", "service/web", "configmap/web"]
                    .iter()
                    .enumerate()
                    .map(|(i, r)| ResourceRow {
                        name: r.to_string(),
                        resource_type: r.split('/').next().unwrap_or_default().to_string(),
                        desired_digest: format!("sha256:{:064x}", i + 1),
                        observed_digest: if drifted && i == 2 {
                            format!("sha256:{:064x}", 99)
                        } else {
                            format!("sha256:{:064x}", i + 1)
                        },
                        drifted: drifted && i == 2,
                    })
                    .collect(),
            }]
        },
        executions: vec![ExecRow {
            id: "ex-0001".into(),
            kind: "install".into(),
            state: "succeeded".into(),
            created_ms: 1_700_000_000_000,
            steps_done: 3,
            steps_total: 3,
        }],
        unreachable: (site.status == Status::Unreachable).then(|| {
            (
                1_700_000_000_000,
                "connection refused (made up)".to_string(),
            )
        }),
    }
}
