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
