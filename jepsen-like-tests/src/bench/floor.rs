//! The physical floor of a replicated write on this machine, measured in the same run as the
//! system under test: the latency of one small write + fdatasync on the data disk, and one
//! loopback TCP round trip.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use hdrhistogram::Histogram;

/// fdatasync latency of 256-byte appends to a file in `dir`, in microseconds.
pub fn fsync_latency(dir: &Path, samples: u32) -> Result<Histogram<u64>> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path)?;
    let block = [0x5au8; 256];
    let mut hist = Histogram::new(3)?;
    for _ in 0..samples {
        let start = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        hist.record(start.elapsed().as_micros() as u64)?;
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(hist)
}

/// Loopback TCP round trip of a 256-byte message, in microseconds.
pub fn loopback_rtt(samples: u32) -> Result<Histogram<u64>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; 256];
        loop {
            if s.read_exact(&mut buf).is_err() {
                return Ok(());
            }
            s.write_all(&buf)?;
        }
    });
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let mut buf = [0u8; 256];
    let mut hist = Histogram::new(3)?;
    for _ in 0..samples {
        let start = Instant::now();
        s.write_all(&buf)?;
        s.read_exact(&mut buf)?;
        hist.record(start.elapsed().as_micros().max(1) as u64)?;
    }
    drop(s);
    let _ = echo.join();
    Ok(hist)
}

/// The floor's figures, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    pub fsync_p50_ms: f64,
    pub fsync_p99_ms: f64,
    pub rtt_p50_ms: f64,
    pub rtt_p99_ms: f64,
}

impl Floor {
    /// fsync latency in `dir` (300 samples) and the loopback round trip (2,000 samples).
    pub fn measure(dir: &Path) -> Result<Floor> {
        let fsync = fsync_latency(dir, 300)?;
        let rtt = loopback_rtt(2000)?;
        let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Ok(Floor {
            fsync_p50_ms: ms(&fsync, 0.5),
            fsync_p99_ms: ms(&fsync, 0.99),
            rtt_p50_ms: ms(&rtt, 0.5),
            rtt_p99_ms: ms(&rtt, 0.99),
        })
    }

    /// What no replicated write can beat: one fsync and one round trip (issue 15's P2
    /// denominator).
    pub fn write_floor_ms(&self) -> f64 {
        self.fsync_p50_ms + self.rtt_p50_ms
    }

    pub fn print(&self) {
        println!(
            "floor  fsync p50={:.3}ms p99={:.3}ms   loopback rtt p50={:.3}ms p99={:.3}ms",
            self.fsync_p50_ms, self.fsync_p99_ms, self.rtt_p50_ms, self.rtt_p99_ms
        );
    }
}
